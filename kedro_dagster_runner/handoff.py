"""The run-scoped handoff store: how data that the catalog does not persist crosses processes.

Datasets that only live in memory (``MemoryDataset``, names not declared in the catalog) cannot be
shared between worker processes, containers or pods. For multi-process executors, workers swap
them for a :class:`HandoffDataset`, which writes one cloudpickle file per dataset under
``<handoff root>/<run id>-<random>/`` (a local directory or any fsspec URI). The driver removes
the run's directory when the run ends. In-process runs never use it: their memory datasets stay
in memory.
"""

from __future__ import annotations

import os
import pickle
import socket
import tempfile
import traceback
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import cloudpickle
import fsspec
from kedro.io import AbstractDataset, DatasetError
from kedro.io.cached_dataset import CachedDataset

from kedro_dagster_runner.errors import DagsterRunnerError, UnpicklableDataError

_ERRORS_DIR = "_errors"
_SPEC_FILE = "_spec.json"


def is_parameter(name: str) -> bool:
    """True for Kedro's parameter datasets, which every worker rebuilds from config."""
    return name == "parameters" or name.startswith("params:")


def needs_handoff(name: str, catalog: Any) -> bool:
    """True when ``name`` is not persisted by the catalog and so must go through the store.

    Parameters are excluded (workers load them from config); ``CachedDataset`` is persisted by
    the dataset it wraps.
    """
    if is_parameter(name):
        return False
    if name not in catalog:
        return True
    dataset = catalog.get(name)
    return bool(getattr(dataset, "_EPHEMERAL", False)) and not isinstance(dataset, CachedDataset)


@dataclass(frozen=True)
class FailureRecord:
    """What a worker reports about a failing node: the exception if it pickles, and its text."""

    exception: BaseException | None
    exception_class: str
    message: str
    traceback: str
    pid: int
    host: str


class HandoffStore:
    """Cloudpickle files under a run-scoped root; safe for concurrent writers of distinct names."""

    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/")
        self._fs, self._root = fsspec.core.url_to_fs(self.uri)

    def _path(self, name: str, folder: str | None = None) -> str:
        filename = quote(name, safe="") + ".pkl"
        parts = [self._root, folder, filename] if folder else [self._root, filename]
        return "/".join(parts)

    def _write(self, path: str, data: Any) -> None:
        parent = path.rsplit("/", 1)[0]
        self._fs.makedirs(parent, exist_ok=True)
        temporary = f"{path}.{uuid.uuid4().hex}.tmp"
        try:
            with self._fs.open(temporary, "wb") as stream:
                cloudpickle.dump(data, stream, protocol=5)
        except BaseException:
            if self._fs.exists(temporary):
                self._fs.rm(temporary)
            raise
        self._fs.mv(temporary, path)

    def save(self, name: str, data: Any) -> None:
        """Store ``data`` under ``name``; :class:`UnpicklableDataError` names the dataset."""
        try:
            self._write(self._path(name), data)
        except (TypeError, AttributeError, pickle.PicklingError) as exc:
            raise UnpicklableDataError(
                f"Dataset '{name}' holds data of type {type(data).__name__} that cannot be "
                f"serialised with cloudpickle to cross process boundaries: {exc}. Declare it in "
                f"the catalog as a persisted dataset, or use the in_process executor."
            ) from exc

    def load(self, name: str) -> Any:
        """Return the data stored under ``name``; ``DatasetError`` when it was never written."""
        path = self._path(name)
        if not self._fs.exists(path):
            raise DatasetError(
                f"Handoff data for dataset '{name}' not found at {self.uri}: the node producing "
                f"it has not run in this Dagster run."
            )
        with self._fs.open(path, "rb") as stream:
            return cloudpickle.load(stream)

    def exists(self, name: str) -> bool:
        """True when data is stored under ``name``."""
        return bool(self._fs.exists(self._path(name)))

    def write_spec(self, spec_json: str) -> None:
        """Publish the run spec for workers that get only the store's URI (dask, celery)."""
        path = f"{self._root}/{_SPEC_FILE}"
        self._fs.makedirs(self._root, exist_ok=True)
        with self._fs.open(path, "w") as stream:
            stream.write(spec_json)

    def read_spec(self) -> str:
        """The run spec written by :meth:`write_spec`."""
        with self._fs.open(f"{self._root}/{_SPEC_FILE}", "r") as stream:
            return stream.read()

    def record_failure(self, op_name: str, error: BaseException) -> None:
        """Keep a node's exception (pickled when possible) for the driver to re-raise."""
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        record = FailureRecord(
            exception=error,
            exception_class=f"{type(error).__module__}.{type(error).__qualname__}",
            message=str(error),
            traceback=text,
            pid=os.getpid(),
            host=socket.gethostname(),
        )
        path = self._path(op_name, _ERRORS_DIR)
        try:
            self._write(path, record)
        except Exception:  # the exception itself does not pickle: keep its text
            self._write(path, FailureRecord(None, *_text_fields(record)))

    def failure(self, op_name: str) -> FailureRecord | None:
        """The failure recorded for ``op_name``, if any."""
        path = self._path(op_name, _ERRORS_DIR)
        if not self._fs.exists(path):
            return None
        with self._fs.open(path, "rb") as stream:
            return cloudpickle.load(stream)

    def remove(self) -> None:
        """Delete the whole run-scoped root."""
        if self._fs.exists(self._root):
            self._fs.rm(self._root, recursive=True)


def _text_fields(record: FailureRecord) -> tuple[str, str, str, int, str]:
    return record.exception_class, record.message, record.traceback, record.pid, record.host


class HandoffDataset(AbstractDataset[Any, Any]):
    """A dataset whose data lives in the run's handoff store (used in worker catalogs only)."""

    _EPHEMERAL = True

    def __init__(self, store: HandoffStore, name: str) -> None:
        self._store = store
        self._name = name

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
