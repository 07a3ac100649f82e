"""The throw-away Dagster instance of a run nobody else reads: events kept, written on demand.

A run whose steps all execute in the ``kedro run`` process, recorded in an ephemeral instance,
has nobody reading its event log while it runs: Dagster's in-memory instance would still
serialise each event (about three per node) into an in-memory sqlite database. The event log
here keeps events as they come and writes them to those tables only when something reads the
log (Dagster's stock in-process executor does, to stop at a failure): the first read writes
every pending event first, so reads see exactly what Dagster's own storage would hold.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

from kedro_dagster_runner import _compat

if TYPE_CHECKING:
    from dagster import DagsterInstance
    from dagster._core.events.log import EventLogEntry


class _PendingWrites(_compat.SqlEventLogStorage):
    """Sits between the in-memory storage and the SQL one in the MRO: the SQL insert of
    ``store_event`` becomes an append to the pending events."""

    _pending: list[EventLogEntry]
    _pending_lock: threading.Lock

    def store_event(self, event: EventLogEntry) -> None:
        with self._pending_lock:
            self._pending.append(event)

    def write_pending(self) -> None:
        """Insert the pending events, in the order they came."""
        with self._pending_lock:
            pending, self._pending = self._pending, []
        for event in pending:
            _compat.SqlEventLogStorage.store_event(self, event)


class DeferredEventLogStorage(_compat.InMemoryEventLogStorage, _PendingWrites):
    """Dagster's in-memory event log whose SQL writes wait for the first read (see the module
    docstring). Watchers are notified as each event comes, as by the in-memory storage."""

    def __init__(self) -> None:
        self._pending = []
        self._pending_lock = threading.Lock()
        super().__init__()

    def run_connection(self, run_id: str | None = None) -> AbstractContextManager[Any]:
        return self._after_pending(super().run_connection(run_id))

    def index_connection(self) -> AbstractContextManager[Any]:
        return self._after_pending(super().index_connection())

    @contextmanager
    def _after_pending(self, connection: AbstractContextManager[Any]) -> Iterator[Any]:
        self.write_pending()
        with connection as opened:
            yield opened

    @property
    def pending_count(self) -> int:
        """Events stored but not written to the SQL tables yet."""
        return len(self._pending)


def ephemeral_instance(settings: dict[str, Any]) -> DagsterInstance:
    """An in-memory instance as ``DagsterInstance.ephemeral`` builds it, with a
    :class:`DeferredEventLogStorage` event log."""
    from dagster import DagsterInstance

    return DagsterInstance(
        instance_type=_compat.InstanceType.EPHEMERAL,
        local_artifact_storage=_compat.TemporaryLocalArtifactStorage(),
        run_storage=_compat.InMemoryRunStorage(),
        event_storage=DeferredEventLogStorage(),
        compute_log_manager=_compat.NoOpComputeLogManager(),
        run_coordinator=_compat.DefaultRunCoordinator(),
        run_launcher=_compat.SyncInMemoryRunLauncher(),
        settings=settings,
    )
