"""Kedro's ``PartitionedDataset`` with Dagster partitions.

Loading and saving a plain dict behave exactly as Kedro's ``PartitionedDataset`` (from
``kedro-datasets``): ``load()`` gives ``{partition id: load function}`` for the partitions under
``path`` (ids are the relative paths without ``filename_suffix``) and ``save(dict)`` writes one
file per key. What the class adds is read by ``DagsterRunner`` and the code location:

* ``partition``: the partitions that exist in Dagster's eyes
  (:class:`~kedro_dagster_runner.partitions.definitions.PartitionsConfig`); a partition key is a
  partition id (``2024-01-01`` with ``filename_suffix: .csv`` is ``<path>/2024-01-01.csv``).
* ``partition_mapping``: per downstream dataset (name or catalog pattern), which of this
  dataset's partitions a downstream partition reads
  (:class:`~kedro_dagster_runner.partitions.definitions.MappingConfig`).

A run's op for one partition saves a :class:`PartitionSlice`: only its own keys, which must be
partitions of the definition, and never the others' (``overwrite`` then replaces only the
partitions written).
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from kedro.io.core import DatasetError
from kedro_datasets.partitions import PartitionedDataset

from kedro_dagster_runner.partitions.definitions import MappingConfig, PartitionsConfig


class PartitionSlice(dict):
    """The partitions one op of a fanned-out node saves: ``{key: data}`` for its own keys.

    Attributes:
        allowed: The keys the op may write (its partition of the dataset).
        node: The node's name, for error messages.
    """

    def __init__(self, data: dict[str, Any], allowed: list[str], node: str) -> None:
        super().__init__(data)
        self.allowed = allowed
        self.node = node


class DagsterPartitionedDataset(PartitionedDataset):
    """A ``PartitionedDataset`` whose partitions are Dagster partitions; see the module doc.

    Args:
        path: Folder (or URL) holding one file per partition.
        dataset: The dataset of one partition (type and its arguments), as in Kedro.
        partition: The partitions definition (``type`` and its arguments).
        partition_mapping: Downstream dataset name (or pattern) -> mapping entry.
        Others: as Kedro's ``PartitionedDataset``.

    Raises:
        ValueError: An unknown partitions or mapping type (Kedro names the dataset).
    """

    def __init__(
        self,
        *,
        path: str,
        dataset: str | type | dict[str, Any],
        partition: str | dict[str, Any],
        partition_mapping: dict[str, str | dict[str, Any]] | None = None,
        filepath_arg: str = "filepath",
        filename_suffix: str = "",
        credentials: dict[str, Any] | None = None,
        load_args: dict[str, Any] | None = None,
        fs_args: dict[str, Any] | None = None,
        overwrite: bool = False,
        save_lazily: bool = True,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            path=path,
            dataset=dataset,
            filepath_arg=filepath_arg,
            filename_suffix=filename_suffix,
            credentials=credentials,
            load_args=load_args,
            fs_args=fs_args,
            overwrite=overwrite,
            save_lazily=save_lazily,
            metadata=metadata,
        )
        self.partitions = PartitionsConfig.parse(partition)
        self.mappings = {
            str(name): MappingConfig.parse(entry, str(name))
            for name, entry in (partition_mapping or {}).items()
        }

    @property
    def path(self) -> str:
        """The folder of the partitions, as configured."""
        return self._path

    def mapping_to(self, downstream: str) -> MappingConfig | None:
        """The mapping declared for dataset ``downstream``: by its name, else by the first
        catalog pattern (``{placeholder}`` syntax) that matches it; ``None`` when none does."""
        from parse import parse

        if downstream in self.mappings:
            return self.mappings[downstream]
        for pattern, mapping in self.mappings.items():
            if "{" in pattern and parse(pattern, downstream) is not None:
                return mapping
        return None

    def stored_keys(self) -> list[str]:
        """The partition ids found under ``path`` now (sorted; empty when there are none)."""
        self._invalidate_caches()
        return sorted(self._path_to_partition(path) for path in self._list_partitions())

    def partition_keys(self) -> list[str]:
        """The keys of the definition (a dynamic one's: the partitions stored now)."""
        if self.partitions.is_dynamic:
            return self.stored_keys()
        return list(self.partitions.dagster_definition().get_partition_keys())

    def save(self, data: dict[str, Any]) -> None:
        """Save partitions: a plain dict as Kedro's ``PartitionedDataset`` does, a
        :class:`PartitionSlice` key by key (only its allowed keys, nothing removed).

        Raises:
            DatasetError: A slice holds a key outside its op's partition, or lacks its own.
        """
        if not isinstance(data, PartitionSlice):
            super().save(data)
            return
        unexpected = sorted(set(data) - set(data.allowed))
        missing = sorted(set(data.allowed) - set(data))
        if unexpected or missing:
            raise DatasetError(
                f"Node '{data.node}' runs for partition(s) {data.allowed} of {self._path} but "
                + (f"returned partition(s) {unexpected}" if unexpected else "")
                + (" and " if unexpected and missing else "")
                + (f"did not return {missing}" if missing else "")
                + ": a node fanned out over partitions returns exactly its own keys."
            )
        for key, partition_data in sorted(data.items()):
            kwargs = deepcopy(self._dataset_config)
            kwargs[self._filepath_arg] = self._join_protocol(self._partition_to_path(key))
            value = (
                partition_data()
                if callable(partition_data) and self._save_lazily
                else partition_data
            )
            self._dataset_type(**kwargs).save(value)
        self._invalidate_caches()

    def _describe(self) -> dict[str, Any]:
        return {
            **super()._describe(),
            "partition": self.partitions.kind,
        }
