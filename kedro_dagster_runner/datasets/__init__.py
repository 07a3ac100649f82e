"""Datasets of the package, for ``catalog.yml``.

* :class:`DagsterPartitionedDataset`: Kedro's ``PartitionedDataset`` with Dagster partitions
  (static, time windows, dynamic) and partition mappings; ``DagsterRunner`` runs a node that
  reads and writes one as one op per partition key, and the code location shows it as a
  partitioned asset.
* :class:`DagsterNothingDataset`: an edge that only orders two nodes (saves and loads nothing).

The class names are kedro-dagster's: moving a catalog over is a change of module,
``kedro_dagster.DagsterPartitionedDataset`` ->
``kedro_dagster_runner.datasets.DagsterPartitionedDataset``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kedro_dagster_runner.datasets.nothing import DagsterNothingDataset
    from kedro_dagster_runner.datasets.partitioned import (
        DagsterPartitionedDataset,
        PartitionSlice,
    )

__all__ = ["DagsterNothingDataset", "DagsterPartitionedDataset", "PartitionSlice"]

_MODULES = {
    "DagsterNothingDataset": "nothing",
    "DagsterPartitionedDataset": "partitioned",
    "PartitionSlice": "partitioned",
}


def __getattr__(name: str) -> object:
    """Import a dataset's module on first use: ``DagsterPartitionedDataset`` needs
    ``kedro-datasets`` (it extends its ``PartitionedDataset``), ``DagsterNothingDataset`` does
    not."""
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_MODULES[name]}")
    return getattr(module, name)
