"""Project classes some tests switch on: a catalog class of the project's own and a dataset
that records its releases (single-process, like Kedro's CachedDataset and Spark datasets)."""

from __future__ import annotations

from kedro.io import DataCatalog
from kedro_datasets.json import JSONDataset

from demo_project.hooks import _record


class MarkedCatalog(DataCatalog):
    """The project's DATA_CATALOG_CLASS when DEMO_CATALOG_CLASS is set (settings.py)."""


class ReleaseRecordingDataset(JSONDataset):
    """A JSON dataset that records every ``release()`` in the hook log."""

    _SINGLE_PROCESS = True

    def _release(self) -> None:
        super()._release()
        _record("release", dataset=self._filepath.name)


def reject_shifted_values(values: list[int]) -> list[int]:
    """A dataset validator (Kedro 1.7 ``validator:``): refuses values above 20."""
    if max(values) > 20:
        raise ValueError(f"shifted values up to {max(values)}: above 20")
    return values
