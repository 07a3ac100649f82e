"""What running one node produces, wherever it ran: a :class:`StepOutcome`.

A worker returns one outcome per node: how long it took, the log records node code wrote, the
metadata of the persisted datasets it read and wrote (for asset events) and, when it failed, a
:class:`NodeFailure`, the package's one record of a node's failure. The failure also goes to the
run's store (:mod:`kedro_dagster_runner.workers.store`), which is how it reaches the driver.

Outcomes cross process boundaries (pool futures, dask results, Celery JSON): :meth:`portable`
drops the exception object, which may not unpickle elsewhere, and keeps its text.
"""

from __future__ import annotations

import os
import socket
import traceback
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from kedro_dagster_runner.errors import RemoteNodeError, WorkerLostError
from kedro_dagster_runner.workers.validation_checks import ValidationResult

if TYPE_CHECKING:
    from dagster_shared.error import SerializableErrorInfo

DatasetMetadata = dict[str, dict[str, Any]]
LogRecords = list[tuple[int, str]]


def _qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


@dataclass(frozen=True)
class NodeFailure:
    """A node's failure: its exception (when it is at hand), class, message, traceback and where.

    Attributes:
        op_name: The failed step.
        exception_class: ``module.QualName`` of the exception.
        message: ``str()`` of the exception.
        traceback: The formatted traceback, as the process running the node saw it.
        pid / host: The process that ran the node.
        exception: The exception object; ``None`` once the record crossed a process boundary
            without it (see :meth:`portable`) or when it could not be unpickled.
        node_name: The Kedro node that raised, when the step runs a group of nodes.
    """

    op_name: str
    exception_class: str
    message: str
    traceback: str
    pid: int
    host: str
    exception: BaseException | None = field(default=None, compare=False)
    node_name: str | None = None

    @classmethod
    def from_exception(
        cls, op_name: str, error: BaseException, node_name: str | None = None
    ) -> NodeFailure:
        """The record of ``error``, raised by the node of ``op_name`` (``node_name`` of its
        group) in this process."""
        return cls(
            node_name=node_name,
            op_name=op_name,
            exception_class=_qualified_name(type(error)),
            message=str(error),
            traceback="".join(traceback.format_exception(type(error), error, error.__traceback__)),
            pid=os.getpid(),
            host=socket.gethostname(),
            exception=error,
        )

    @classmethod
    def worker_lost(cls, op_name: str, message: str) -> NodeFailure:
        """The record of a node whose worker ended without reporting (see WorkerLostError)."""
        return cls.from_exception(op_name, WorkerLostError(message))

    @property
    def short_class(self) -> str:
        """The exception's class name without its module."""
        return self.exception_class.rsplit(".", 1)[-1]

    def portable(self) -> NodeFailure:
        """The record without the exception object (safe to pickle or send as JSON)."""
        return replace(self, exception=None)

    def stand_in(self) -> BaseException:
        """The node's exception, or a :class:`RemoteNodeError` with its class and message."""
        return self.exception or RemoteNodeError(self.exception_class, self.message)

    def ran_here(self) -> bool:
        """True when the node ran in this process."""
        return self.pid == os.getpid() and self.host == socket.gethostname()

    def error_info(self) -> SerializableErrorInfo:
        """The failure as Dagster's error record (for STEP_FAILURE events)."""
        from dagster_shared.error import SerializableErrorInfo

        return SerializableErrorInfo(
            message=f"{self.short_class}: {self.message}\n",
            stack=[self.traceback],
            cls_name=self.short_class,
        )


@dataclass(frozen=True)
class StepOutcome:
    """What running one node returned: success, or its failure; logs and asset metadata."""

    op_name: str
    duration_ms: float
    failure: NodeFailure | None = None
    materialized: DatasetMetadata = field(default_factory=dict)
    observed: DatasetMetadata = field(default_factory=dict)
    logs: LogRecords = field(default_factory=list)
    partitions: dict[str, list[str]] = field(default_factory=dict)
    """Dataset -> the partitions the op read or wrote (one partition of a fanned-out node)."""
    checks: list[ValidationResult] = field(default_factory=list)
    """What the datasets' Kedro validators said while the op ran (asset checks)."""

    @property
    def ok(self) -> bool:
        return self.failure is None

    def portable(self) -> StepOutcome:
        """The outcome without exception objects (what crosses process boundaries)."""
        if self.failure is None:
            return self
        return replace(self, failure=self.failure.portable())

    def to_json_dict(self) -> dict[str, Any]:
        """A JSON-able form (Celery results)."""
        data = asdict(self.portable())
        if data["failure"] is not None:
            data["failure"].pop("exception")
        return data

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> StepOutcome:
        """Inverse of :meth:`to_json_dict`."""
        failure = data.get("failure")
        return cls(
            op_name=data["op_name"],
            duration_ms=float(data["duration_ms"]),
            failure=NodeFailure(**failure) if failure else None,
            materialized=data.get("materialized") or {},
            observed=data.get("observed") or {},
            logs=[(int(level), str(message)) for level, message in data.get("logs") or []],
            partitions={
                str(name): [str(key) for key in keys]
                for name, keys in (data.get("partitions") or {}).items()
            },
            checks=[ValidationResult(**check) for check in data.get("checks") or []],
        )
