"""The run's store: the one channel between the driver and the processes that run nodes.

Every run has one, addressed by the URI in ``RunSpec.handoff_uri``. It holds:

* the **run spec** (:meth:`RunStore.write_spec` / :meth:`RunStore.read_spec`): the only way the
  spec reaches other processes (the reconstructable job, pool workers, dask and Celery tasks and
  containers all get the URI and read the spec once per process);
* **node failures** (:meth:`RunStore.record_failure` / :meth:`RunStore.failure`): written by the
  process that ran the node (or by the orchestrator when that process was lost), read by the
  driver to raise the node's error;
* **handoff data**: datasets that only live in memory (``MemoryDataset``, undeclared names)
  but must cross processes, one cloudpickle file per dataset;
* **step leases** (:meth:`RunStore.claim_step`, :meth:`RunStore.record_outcome`): the first
  worker to start a node claims it and stores its outcome when done, so a second delivery of the
  same node (a redelivered Celery task, a dask task re-run after a lost worker) never runs it
  twice;
* **the end of the run** (:meth:`RunStore.ended`): :meth:`RunStore.remove` first marks the
  store ended, then deletes it. Workers check it before running a node and before each save, and
  nothing written afterwards recreates the store. A local store whose ``kedro run`` process
  died (SIGKILL) counts as ended too.

Two backends share the interface. :class:`DirectoryStore` is a run-scoped folder
(``<handoff root>/<run id>-<random>/``, a local directory or any fsspec URI) for runs whose nodes
run in other processes, containers or pods. :class:`LiveStore` lives in the driver's memory
(URI ``kedro-live:<run id>-<random>``) for runs whose nodes all run in the driver: nothing is
pickled, failures keep the exception object, and it also carries the driver's own Kedro objects
(:attr:`LiveStore.runtime`). The driver removes the store when the run ends.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import shutil
import tempfile
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote

import cloudpickle
from kedro.io import DatasetError

from kedro_dagster_runner import leftovers
from kedro_dagster_runner.errors import DagsterRunnerError, RunEndedError, UnpicklableDataError
from kedro_dagster_runner.workers import buffers
from kedro_dagster_runner.workers.exceptions import PackedException, pack, unpack
from kedro_dagster_runner.workers.outcome import NodeFailure, StepOutcome

if TYPE_CHECKING:
    from kedro_dagster_runner.workers.runtime import NodeRuntime

LIVE_PREFIX = "kedro-live:"


def _missing(name: str, uri: str) -> DatasetError:
    return DatasetError(
        f"Handoff data for dataset '{name}' not found at {uri}: the node producing it has not "
        "run in this Dagster run."
    )


class RunStore(ABC):
    """Spec, failures and handoff data of one run (see the module docstring)."""

    uri: str

    @abstractmethod
    def write_spec(self, spec_json: str) -> None:
        """Publish the run spec."""

    @abstractmethod
    def read_spec(self) -> str:
        """The run spec written by :meth:`write_spec`."""

    @abstractmethod
    def record_failure(self, failure: NodeFailure, replace: bool = True) -> None:
        """Keep a node's failure for the driver (the exception itself when it can be kept).

        A later record of the same node replaces the earlier one (a retried node reports its
        last attempt), unless ``replace`` is false (a lost worker never hides the node's own).
        """

    @abstractmethod
    def failure(self, op_name: str) -> NodeFailure | None:
        """The failure recorded for ``op_name``, if any."""

    @abstractmethod
    def save(self, name: str, data: Any) -> None:
        """Store ``data`` under ``name``; :class:`UnpicklableDataError` names the dataset."""

    @abstractmethod
    def load(self, name: str) -> Any:
        """The data stored under ``name``; ``DatasetError`` when it was never written."""

    @abstractmethod
    def exists(self, name: str) -> bool:
        """True when data is stored under ``name``."""

    @abstractmethod
    def discard(self, name: str) -> None:
        """Delete the data stored under ``name``, if any."""

    @abstractmethod
    def write_private(self, key: str, value: object) -> None:
        """Keep ``value`` for the run's workers, readable by its owner only (cloudpickle; the
        run's ``--params`` and load versions, a pipeline shipped without a project)."""

    @abstractmethod
    def read_private(self, key: str) -> object | None:
        """The value written under ``key`` by :meth:`write_private`, or ``None``."""

    @abstractmethod
    def claim_step(self, op_name: str, holder: str) -> str | None:
        """Claim the node of ``op_name`` for ``holder`` (a description of this worker).

        Returns ``None`` when the claim is this caller's, else the holder of the earlier claim
        (atomic on local folders; check-then-write on other filesystems).
        """

    @abstractmethod
    def record_outcome(self, outcome: StepOutcome) -> None:
        """Keep the portable outcome of a claimed node that finished (for a second delivery)."""

    @abstractmethod
    def finished_outcome(self, op_name: str) -> StepOutcome | None:
        """The outcome recorded by :meth:`record_outcome`, if any."""

    @abstractmethod
    def forget_step(self, op_name: str) -> None:
        """Drop the claim and the recorded outcome of ``op_name``: the orchestrator is about to
        start it again (a retry), which is a new delivery, not a duplicate."""

    @abstractmethod
    def ended(self) -> bool:
        """True once the run has ended: the store was removed or is being removed."""

    @abstractmethod
    def remove(self) -> None:
        """Mark the run ended, then delete everything it stored."""

    def refuse_if_ended(self, what: str) -> None:
        """Raise :class:`RunEndedError` for ``what`` (a node, a save) when the run has ended."""
        if self.ended():
            raise RunEndedError(
                f"Refusing {what}: its run has ended (run store {self.uri} is gone, being "
                "removed, or its kedro run process died); the kedro run that sent it finished, "
                "was interrupted or died."
            )


# In the driver's memory -----------------------------------------------------------------------

_LIVE_STORES: dict[str, LiveStore] = {}


class LiveStore(RunStore):
    """A run store in this process's memory, for runs whose nodes all run in the driver."""

    def __init__(self, uri: str, runtime: NodeRuntime | None = None) -> None:
        self.uri = uri
        self.runtime = runtime
        self._spec: str | None = None
        self._failures: dict[str, NodeFailure] = {}
        self._data: dict[str, Any] = {}
        self._private: dict[str, object] = {}
        self._claims: dict[str, str] = {}
        self._outcomes: dict[str, StepOutcome] = {}

    def write_spec(self, spec_json: str) -> None:
        self._spec = spec_json

    def read_spec(self) -> str:
        if self._spec is None:
            raise DagsterRunnerError(f"No run spec was published in {self.uri}")
        return self._spec

    def record_failure(self, failure: NodeFailure, replace: bool = True) -> None:
        if replace or failure.op_name not in self._failures:
            self._failures[failure.op_name] = failure

    def failure(self, op_name: str) -> NodeFailure | None:
        return self._failures.get(op_name)

    def save(self, name: str, data: Any) -> None:
        self._data[name] = data

    def load(self, name: str) -> Any:
        if name not in self._data:
            raise _missing(name, self.uri)
        return self._data[name]

    def exists(self, name: str) -> bool:
        return name in self._data

    def discard(self, name: str) -> None:
        self._data.pop(name, None)

    def write_private(self, key: str, value: object) -> None:
        self._private[key] = value

    def read_private(self, key: str) -> object | None:
        return self._private.get(key)

    def claim_step(self, op_name: str, holder: str) -> str | None:
        if op_name in self._claims:
            return self._claims[op_name]
        self._claims[op_name] = holder
        return None

    def record_outcome(self, outcome: StepOutcome) -> None:
        self._outcomes[outcome.op_name] = outcome.portable()

    def finished_outcome(self, op_name: str) -> StepOutcome | None:
        return self._outcomes.get(op_name)

    def forget_step(self, op_name: str) -> None:
        self._claims.pop(op_name, None)
        self._outcomes.pop(op_name, None)

    def ended(self) -> bool:
        return _LIVE_STORES.get(self.uri) is not self

    def remove(self) -> None:
        _LIVE_STORES.pop(self.uri, None)
        self._data.clear()


def create_live_store(run_id: str, runtime: NodeRuntime) -> LiveStore:
    """A new live store for run ``run_id``, reachable by its URI in this process."""
    store = LiveStore(f"{LIVE_PREFIX}{run_id}-{uuid.uuid4().hex[:8]}", runtime)
    _LIVE_STORES[store.uri] = store
    return store


# In a folder ----------------------------------------------------------------------------------

_ERRORS_DIR = "_errors"
_PRIVATE_DIR = "_private"
_STEPS_DIR = "_steps"
_SPEC_FILE = "_spec.json"
_ENDED_FILE = "_ended"
SHARED_MEMORY_RESERVE_BYTES = 1 << 30
SHARED_MEMORY_RESERVE_SHARE = 0.25
"""A store in /dev/shm leaves at least 1 GiB and a quarter of it free; larger data spills to
disk (the temp dir), where it is read the same way."""
_OWNER_ONLY = 0o600


@dataclass(frozen=True)
class _StoredFailure:
    """A failure on disk: the record without its exception, and the exception packed apart
    (:mod:`~kedro_dagster_runner.workers.exceptions`), so that an exception that does not
    travel leaves the record readable."""

    record: NodeFailure
    packed_exception: PackedException | None


class DirectoryStore(RunStore):
    """Cloudpickle files under a run-scoped root; safe for concurrent writers of distinct names."""

    def __init__(self, uri: str) -> None:
        import fsspec

        self.uri = uri.rstrip("/")
        self._fs, self._root = fsspec.core.url_to_fs(self.uri)
        protocols = self._fs.protocol
        self._local = "file" in (protocols if isinstance(protocols, tuple) else (protocols,))
        self._owner: tuple[str, str] | None = None
        in_memory = self._local and Path(self._root).is_relative_to(leftovers.SHARED_MEMORY)
        self._spill_root = (
            f"{tempfile.gettempdir()}/kedro-dagster-handoff-spill-"
            f"{hashlib.sha256(self._root.encode()).hexdigest()[:16]}"
            if in_memory
            else None
        )

    @property
    def local_root(self) -> str | None:
        """The store's folder when it is on the local filesystem."""
        return self._root if self._local else None

    def _path(self, name: str, folder: str | None = None) -> str:
        filename = quote(name, safe="") + ".pkl"
        parts = [self._root, folder, filename] if folder else [self._root, filename]
        return "/".join(parts)

    def _write(self, path: str, data: Any) -> None:
        """Write ``data`` (cloudpickle) at ``path`` atomically; never into (or re-creating) an
        ended store."""
        self._write_with(path, lambda stream: cloudpickle.dump(data, stream, protocol=5))

    def _write_with(self, path: str, writer: Callable[[IO[bytes]], None]) -> None:
        """Write a file at ``path`` atomically with ``writer``, refusing an ended store."""
        self.refuse_if_ended(f"to write {path.rsplit('/', 1)[-1]}")
        temporary = f"{path}.{uuid.uuid4().hex}.tmp"
        try:
            with self._fs.open(temporary, "wb") as stream:
                self._restrict(temporary)
                writer(stream)
        except BaseException:
            if self._fs.exists(temporary):
                self._fs.rm(temporary)
            raise
        self._fs.mv(temporary, path)

    def _restrict(self, path: str) -> None:
        """Make a local file readable by its owner only (the run's data may be sensitive);
        other filesystems keep their own access control."""
        if self._local:
            os.chmod(path, _OWNER_ONLY)

    def _read(self, path: str) -> Any:
        with self._fs.open(path, "rb") as stream:
            if self._local and buffers.is_buffered(stream.read(len(buffers.MAGIC))):
                return buffers.load(path)
            stream.seek(0)
            return cloudpickle.load(stream)

    def save(self, name: str, data: Any) -> None:
        try:
            if not self._local:
                self._write(self._path(name), data)
                return
            pickled = buffers.pickle_out_of_band(data)
        except (TypeError, AttributeError, pickle.PicklingError, BufferError) as exc:
            raise UnpicklableDataError(
                f"Dataset '{name}' holds data of type {type(data).__name__} that cannot be "
                f"serialised with cloudpickle to cross process boundaries: {exc}. Declare it in "
                f"the catalog as a persisted dataset, or use the in_process executor."
            ) from exc
        path = self._path(name)
        if self._spill_root is not None and not self._memory_left_after(pickled.nbytes):
            self.discard(name)
            path = self._spill_path(name)
        self._write_with(path, lambda stream: buffers.write(pickled, stream))

    def _memory_left_after(self, nbytes: int) -> bool:
        """True when writing ``nbytes`` to the store's tmpfs leaves it its reserve."""
        usage = shutil.disk_usage(self._root)
        reserve = max(SHARED_MEMORY_RESERVE_BYTES, usage.total * SHARED_MEMORY_RESERVE_SHARE)
        return usage.free - nbytes >= reserve

    def _spill_path(self, name: str) -> str:
        """Where ``name`` goes when the store's shared memory is short: a disk folder of the
        temp dir, made on first use and owned like the store (swept after a dead driver)."""
        spill_root = self._spill_root or ""
        if not os.path.isdir(spill_root):
            self.refuse_if_ended(f"to spill {name}")
            os.makedirs(spill_root, mode=0o700, exist_ok=True)
            owner = Path(self._root) / leftovers.OWNER_FILE
            with contextlib.suppress(FileNotFoundError):
                shutil.copy2(owner, Path(spill_root) / leftovers.OWNER_FILE)
        return self._spill_path_of(name)

    def _spill_path_of(self, name: str) -> str:
        return "/".join([self._spill_root or "", quote(name, safe="") + ".pkl"])

    def _located(self, name: str) -> str | None:
        """The file holding ``name``: in the store, or spilled to disk; ``None`` when neither."""
        path = self._path(name)
        if self._fs.exists(path):
            return path
        if self._spill_root is not None and os.path.exists(self._spill_path_of(name)):
            return self._spill_path_of(name)
        return None

    def load(self, name: str) -> Any:
        path = self._located(name)
        if path is None:
            raise _missing(name, self.uri)
        return self._read(path)

    def exists(self, name: str) -> bool:
        return self._located(name) is not None

    def discard(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._fs.rm(self._path(name))
        if self._spill_root is not None:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self._spill_path_of(name))

    def write_spec(self, spec_json: str) -> None:
        self._fs.makedirs(self._root, exist_ok=True)
        if self._local:
            os.chmod(self._root, 0o700)
        for folder in (_ERRORS_DIR, _PRIVATE_DIR, _STEPS_DIR):  # writers never make parents,
            self._fs.makedirs(f"{self._root}/{folder}", exist_ok=True)  # so a late one fails
        path = f"{self._root}/{_SPEC_FILE}"
        with self._fs.open(path, "w") as stream:
            self._restrict(path)
            stream.write(spec_json)

    def write_private(self, key: str, value: object) -> None:
        self._write(self._path(key, _PRIVATE_DIR), value)

    def read_private(self, key: str) -> object | None:
        return self._read_if_present(self._path(key, _PRIVATE_DIR))

    def _read_if_present(self, path: str) -> Any:
        try:
            return self._read(path)
        except FileNotFoundError:
            return None

    def read_spec(self) -> str:
        with self._fs.open(f"{self._root}/{_SPEC_FILE}", "r") as stream:
            return stream.read()

    def record_failure(self, failure: NodeFailure, replace: bool = True) -> None:
        path = self._path(failure.op_name, _ERRORS_DIR)
        if not replace and self._fs.exists(path):
            return
        packed = pack(failure.exception) if failure.exception is not None else None
        self._write(path, _StoredFailure(failure.portable(), packed))

    def failure(self, op_name: str) -> NodeFailure | None:
        path = self._path(op_name, _ERRORS_DIR)
        if not self._fs.exists(path):
            return None
        stored: _StoredFailure = self._read(path)
        packed = stored.packed_exception
        return replace(stored.record, exception=unpack(packed) if packed is not None else None)

    def claim_step(self, op_name: str, holder: str) -> str | None:
        self.refuse_if_ended(f"step '{op_name}'")
        path = self._claim_path(op_name)
        if self._local:
            try:
                descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, _OWNER_ONLY)
            except FileExistsError:
                return self._read_claim(path)
            with os.fdopen(descriptor, "w") as stream:
                stream.write(holder)
            return None
        if self._fs.exists(path):
            return self._read_claim(path)
        self._fs.pipe_file(path, holder.encode())
        return None

    def _claim_path(self, op_name: str) -> str:
        return f"{self._root}/{_STEPS_DIR}/{quote(op_name, safe='')}.claim"

    def _read_claim(self, path: str) -> str:
        with self._fs.open(path, "r") as stream:
            return stream.read() or "a worker that was still writing its claim"

    def record_outcome(self, outcome: StepOutcome) -> None:
        self._write(self._path(outcome.op_name, _STEPS_DIR), outcome.portable())

    def finished_outcome(self, op_name: str) -> StepOutcome | None:
        return self._read_if_present(self._path(op_name, _STEPS_DIR))

    def forget_step(self, op_name: str) -> None:
        for path in (self._claim_path(op_name), self._path(op_name, _STEPS_DIR)):
            with contextlib.suppress(FileNotFoundError):
                self._fs.rm(path)

    def ended(self) -> bool:
        """Removed, being removed, or (a local store) its driver process died: a ``kedro run``
        killed with SIGKILL leaves its store until the next run sweeps it."""
        if not self._local:
            return not self._fs.exists(self._root) or self._fs.exists(f"{self._root}/{_ENDED_FILE}")
        # local: checked before every save, so kept to a few system calls
        if not os.path.isdir(self._root) or os.path.exists(f"{self._root}/{_ENDED_FILE}"):
            return True
        if self._owner is None:  # written once, right after the spec
            self._owner = leftovers.owner_of(Path(self._root))
        return leftovers.owner_dead(Path(self._root), self._owner)

    def remove(self) -> None:
        if self._spill_root is not None:
            shutil.rmtree(self._spill_root, ignore_errors=True)
        if not self._fs.exists(self._root):
            return
        with contextlib.suppress(FileNotFoundError):
            self._fs.pipe_file(f"{self._root}/{_ENDED_FILE}", b"")
        for attempt in range(3):  # a late worker may still be finishing a write
            try:
                self._fs.rm(self._root, recursive=True)
                return
            except FileNotFoundError:
                return
            except OSError:
                if attempt == 2:
                    raise


def live_store(uri: str) -> LiveStore | None:
    """The live store at ``uri`` in this process, or ``None`` (a folder, or another process's)."""
    return _LIVE_STORES.get(uri) if uri.startswith(LIVE_PREFIX) else None


def open_store(uri: str) -> RunStore:
    """The store at ``uri``: the live store of this process, or a directory store.

    Raises:
        DagsterRunnerError: ``uri`` is a live store of another process (or of a run that ended).
    """
    if uri.startswith(LIVE_PREFIX):
        store = live_store(uri)
        if store is None:
            raise DagsterRunnerError(
                f"Run store {uri} lives in the memory of the kedro run process and cannot be "
                "opened here: only executors whose nodes run in the driver use it."
            )
        return store
    return _directory_store(uri)


@lru_cache(maxsize=16)
def _directory_store(uri: str) -> DirectoryStore:
    """One :class:`DirectoryStore` per URI and process: workers open the store several times
    per node (it keeps nothing but its location and its owner, read once)."""
    return DirectoryStore(uri)
