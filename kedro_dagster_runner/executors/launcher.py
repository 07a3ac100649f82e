"""Node launchers: where the package's own executor runs nodes (inline, a pool, dask, Celery).

A launcher takes node launches from the orchestrator
(:class:`~kedro_dagster_runner.executors.kedro_executor.KedroStepExecutor`) and hands back
:class:`~kedro_dagster_runner.workers.outcome.StepOutcome` objects as nodes finish. This base
keeps the bookkeeping every launcher needs: when each node started, and the outcome of a node
whose worker ended without reporting (recorded in the run's store like any failure).
"""

from __future__ import annotations

import contextlib
import time
from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterable
from types import TracebackType
from typing import Protocol

from kedro_dagster_runner.spec import RunSpec
from kedro_dagster_runner.workers.outcome import NodeFailure, StepOutcome
from kedro_dagster_runner.workers.step import record_failure
from kedro_dagster_runner.workers.store import open_store


class NodeLauncher(ABC):
    """Runs nodes somewhere and reports when they finish.

    Subclasses implement :meth:`_start`, :meth:`running` and :meth:`finished`, and open / close
    their resources in ``__enter__`` / ``__exit__`` (``__exit__`` gets the exception that ends
    the run early, if any: interrupted or crashed runs must not wait for running nodes).
    """

    max_concurrent: int

    def __init__(self, spec: RunSpec, max_concurrent: int) -> None:
        self._spec = spec
        self.max_concurrent = max_concurrent
        self._started: dict[str, float] = {}

    def __enter__(self) -> NodeLauncher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None

    def launch(self, op_name: str) -> None:
        """Start the node of ``op_name``; must not block until it finishes (except inline)."""
        self._started[op_name] = time.perf_counter()
        self._start(op_name)

    @abstractmethod
    def _start(self, op_name: str) -> None:
        """Hand the node to the workers."""

    @abstractmethod
    def running(self) -> int:
        """How many launched nodes have not been reported yet."""

    @abstractmethod
    def finished(self, timeout: float) -> list[StepOutcome]:
        """Outcomes of nodes that finished, waiting up to ``timeout`` s for at least one."""

    def elapsed_ms(self, op_name: str) -> float:
        """Milliseconds since the node of ``op_name`` was launched."""
        return (time.perf_counter() - self._started[op_name]) * 1000

    def worker_lost(self, op_name: str, message: str) -> StepOutcome:
        """The outcome of a node whose worker ended without reporting it; recorded in the run's
        store unless the worker recorded the node's own failure first."""
        failure = NodeFailure.worker_lost(op_name, message)
        record_failure(self._spec, failure, replace=False)
        self._claim_lost(op_name)
        return StepOutcome(op_name, self.elapsed_ms(op_name), failure.portable())

    def _claim_lost(self, op_name: str) -> None:
        """Claim a node failed as lost, so that a later delivery of its task (a queued Celery
        task no revoke reached) never runs it."""
        if not self._spec.handoff_uri:
            return
        with contextlib.suppress(Exception):  # claimed by its worker already, or store gone
            open_store(self._spec.handoff_uri).claim_step(op_name, "the driver (failed as lost)")


class OutcomeFuture(Hashable, Protocol):
    """A submitted node: a ``concurrent.futures`` or a dask future of its outcome."""

    def result(self) -> StepOutcome: ...


class FutureLauncher(NodeLauncher):
    """A launcher whose nodes are futures (a process pool, dask tasks): it waits on them and turns
    a future that raised instead of returning an outcome into a lost-worker outcome."""

    def __init__(self, spec: RunSpec, max_concurrent: int) -> None:
        super().__init__(spec, max_concurrent)
        self._futures: dict[OutcomeFuture, str] = {}

    @abstractmethod
    def _submit(self, op_name: str) -> OutcomeFuture:
        """Submit the node of ``op_name``; the future of its outcome."""

    @abstractmethod
    def _wait(self, futures: list[OutcomeFuture], timeout: float) -> Iterable[OutcomeFuture]:
        """The futures among ``futures`` that are done, waiting up to ``timeout`` s for one."""

    @abstractmethod
    def _lost(self, op_name: str, error: Exception) -> str:
        """What to tell about a node whose future raised ``error``."""

    def _start(self, op_name: str) -> None:
        self._futures[self._submit(op_name)] = op_name

    def running(self) -> int:
        return len(self._futures)

    def finished(self, timeout: float) -> list[StepOutcome]:
        if not self._futures:
            return []
        outcomes = []
        for future in self._wait(list(self._futures), timeout):
            op_name = self._futures.pop(future)
            try:
                outcomes.append(future.result())
            except Exception as error:  # the worker never returned the node's outcome
                outcomes.append(self.worker_lost(op_name, self._lost(op_name, error)))
        return outcomes
