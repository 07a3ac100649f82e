"""Handoff data: how datasets the catalog does not persist cross processes.

Datasets that only live in memory (``MemoryDataset``, names not declared in the catalog) cannot be
shared between worker processes, containers or pods. For executors whose nodes run outside the
driver, workers swap them for a :class:`HandoffDataset`, which keeps the data in the run's store
(:mod:`kedro_dagster_runner.workers.store`). Runs whose nodes all run in the driver keep them in
the driver's catalog.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro.io import AbstractDataset, DatasetError
from kedro.io.cached_dataset import CachedDataset

from kedro_dagster_runner import _compat
from kedro_dagster_runner.errors import DagsterRunnerError
from kedro_dagster_runner.leftovers import SHARED_MEMORY

if TYPE_CHECKING:
    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline

    from kedro_dagster_runner.workers.store import RunStore


def is_parameter(name: str) -> bool:
    """True for Kedro's parameter datasets, which every worker rebuilds from config."""
    return name == "parameters" or name.startswith("params:")


def needs_handoff(name: str, catalog: CatalogProtocol) -> bool:
    """True when ``name`` is not persisted by the catalog and so must go through the store.

    Parameters are excluded (workers load them from config); ``CachedDataset`` is persisted by
    the dataset it wraps.
    """
    if is_parameter(name):
        return False
    if name not in catalog:
        return True
    dataset = catalog.get(name)
    return _compat.is_ephemeral(dataset) and not isinstance(dataset, CachedDataset)


def persisted_datasets(pipeline: Pipeline, catalog: CatalogProtocol) -> list[str]:
    """The pipeline's datasets the catalog persists (the run's Dagster assets), sorted."""
    return sorted(
        name
        for name in pipeline.datasets()
        if not is_parameter(name) and not needs_handoff(name, catalog)
    )


class HandoffDataset(AbstractDataset[Any, Any]):
    """A dataset whose data lives in the run's store (used in worker catalogs only).

    It stands in for the in-memory dataset the catalog declared (``replaced``), if any, whose
    ``confirm()`` it keeps: ``catalog.confirm(name)`` behaves as on the declared dataset.
    """

    _EPHEMERAL = True

    def __init__(self, store: RunStore, name: str, replaced: AbstractDataset | None = None) -> None:
        self._store = store
        self._name = name
        self._replaced = replaced

    def confirm(self) -> None:
        """The replaced dataset's ``confirm()``; Kedro's error when it has none."""
        confirm = getattr(self._replaced, "confirm", None)
        if confirm is None:
            raise DatasetError(f"Dataset '{self._name}' does not have 'confirm' method")
        confirm()

    def load(self) -> Any:
        return self._store.load(self._name)

    def save(self, data: Any) -> None:
        self._store.save(self._name, data)

    def _exists(self) -> bool:
        return self._store.exists(self._name)

    def _describe(self) -> dict[str, Any]:
        return {"name": self._name, "store": self._store.uri}


def detached_handoff_root() -> Path:
    """``<temp dir>/kedro-dagster-handoff-<uid>``: where detached runs keep their stores by
    default (they outlive ``kedro run``); private to the user (mode 0700).

    Raises:
        DagsterRunnerError: The directory exists but belongs to someone else or is open to others.
    """
    root = Path(tempfile.gettempdir()) / f"kedro-dagster-handoff-{os.getuid()}"
    root.mkdir(mode=0o700, exist_ok=True)
    info = root.lstat()
    if root.is_symlink() or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise DagsterRunnerError(
            f"{root} is not a private directory of this user: remove it or set runner.handoff."
        )
    return root


SHARED_MEMORY_MIN_FREE = 1 << 30


def local_handoff_parent() -> str | None:
    """Where a run whose nodes run in local processes keeps its store when ``runner.handoff`` is
    not set: ``/dev/shm`` (memory: data crosses processes at memory speed, see
    :mod:`~kedro_dagster_runner.workers.buffers`) when it is writable with at least 1 GiB free
    and ``TMPDIR`` does not choose the temp dir; ``None`` for the temp dir."""
    if os.environ.get("TMPDIR"):
        return None
    try:
        free = shutil.disk_usage(SHARED_MEMORY).free
    except OSError:
        return None
    if free < SHARED_MEMORY_MIN_FREE or not os.access(SHARED_MEMORY, os.W_OK):
        return None
    return str(SHARED_MEMORY)
