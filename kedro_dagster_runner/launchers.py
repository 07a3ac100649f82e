"""Where the package's own executors run nodes: inline, or in a pool of warm local processes.

A launcher takes node launches from :class:`~kedro_dagster_runner.step_executor.KedroStepExecutor`
and hands back :class:`StepOutcome` objects as nodes finish. Launchers for distributed workers
live in :mod:`kedro_dagster_runner.dask_launcher` and :mod:`kedro_dagster_runner.celery_launcher`.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Protocol

from dagster._utils.error import SerializableErrorInfo, serializable_error_info_from_exc_info

from kedro_dagster_runner.spec import RunSpec

# Modules the forkserver imports once so that each worker starts with Kedro already loaded.
FORKSERVER_PRELOAD = ("kedro_dagster_runner.worker", "kedro.framework.session", "kedro.runner")


@dataclass(frozen=True)
class StepOutcome:
    """What running one node returned: success, or the error as Dagster serialises it."""

    op_name: str
    duration_ms: float
    error: SerializableErrorInfo | None = None
    materialized: dict[str, dict[str, Any]] = field(default_factory=dict)
    observed: dict[str, dict[str, Any]] = field(default_factory=dict)
    logs: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


class Launcher(Protocol):
    """Runs nodes somewhere and reports when they finish."""

    max_concurrent: int

    def __enter__(self) -> Launcher: ...

    def __exit__(self, exc_type: object, *exc: object) -> None: ...

    def launch(self, op_name: str) -> None:
        """Start the node of ``op_name``; must not block until it finishes (except inline)."""

    def running(self) -> int:
        """How many launched nodes have not been reported yet."""

    def finished(self, timeout: float) -> list[StepOutcome]:
        """Outcomes of nodes that finished, waiting up to ``timeout`` s for at least one."""


def run_step(spec: RunSpec, op_name: str) -> StepOutcome:
    """Run the node behind ``op_name`` in this process and report how it went (never raises)."""
    from kedro_dagster_runner.logging import capture
    from kedro_dagster_runner.worker import run_node

    started = time.perf_counter()
    with capture() as logs:
        try:
            materialized, observed = run_node(spec, spec.node_by_op[op_name])
        except Exception:
            error = serializable_error_info_from_exc_info(sys.exc_info())
            elapsed = (time.perf_counter() - started) * 1000
            return StepOutcome(op_name, elapsed, error, logs=list(logs))
    elapsed = (time.perf_counter() - started) * 1000
    return StepOutcome(
        op_name, elapsed, materialized=materialized, observed=observed, logs=list(logs)
    )


def error_outcome(op_name: str, elapsed_ms: float, message: str) -> StepOutcome:
    """An outcome for a node whose worker failed outside the node (crash, lost worker)."""
    try:
        raise RuntimeError(message)
    except RuntimeError:
        return StepOutcome(
            op_name, elapsed_ms, serializable_error_info_from_exc_info(sys.exc_info())
        )


class InlineLauncher:
    """Runs each node in the orchestrating process, one at a time."""

    max_concurrent = 1

    def __init__(self, spec: RunSpec) -> None:
        self._spec = spec
        self._done: list[StepOutcome] = []

    def __enter__(self) -> InlineLauncher:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self._done.clear()

    def launch(self, op_name: str) -> None:
        self._done.append(run_step(self._spec, op_name))

    def running(self) -> int:
        return 0

    def finished(self, timeout: float) -> list[StepOutcome]:
        done, self._done = self._done, []
        return done


# Worker-process side of the pool -------------------------------------------------------------

_WORKER_SPEC: RunSpec | None = None


def _init_pool_worker(spec_json: str) -> None:
    """Pool initializer: remember the run and warm the Kedro context before the first node."""
    global _WORKER_SPEC  # noqa: PLW0603 - one run spec per worker process
    os.environ["KEDRO_DISABLE_TELEMETRY"] = "true"
    _WORKER_SPEC = RunSpec.from_json(spec_json)
    try:
        from kedro_dagster_runner.worker import runtime_for

        runtime_for(_WORKER_SPEC)
    except Exception:  # reported as the failure of each node this worker is given
        pass


def _pool_step(op_name: str) -> StepOutcome:
    assert _WORKER_SPEC is not None, "worker used before its initializer ran"
    return run_step(_WORKER_SPEC, op_name)


class PoolLauncher:
    """A pool of long-lived local worker processes for one run."""

    def __init__(
        self,
        spec: RunSpec,
        max_concurrent: int,
        start_method: str,
        preload_modules: tuple[str, ...] = (),
    ) -> None:
        self._spec = spec
        self.max_concurrent = max_concurrent
        self._start_method = start_method
        self._preload = (*FORKSERVER_PRELOAD, *preload_modules)
        self._pool: ProcessPoolExecutor | None = None
        self._futures: dict[Future[StepOutcome], str] = {}
        self._started: dict[str, float] = {}

    def __enter__(self) -> PoolLauncher:
        context = multiprocessing.get_context(self._start_method)
        if self._start_method == "forkserver":
            context.set_forkserver_preload(list(self._preload))
        self._pool = ProcessPoolExecutor(
            max_workers=self.max_concurrent,
            mp_context=context,
            initializer=_init_pool_worker,
            initargs=(self._spec.to_json(),),
        )
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        assert self._pool is not None
        if exc_type is not None:  # interrupted or crashed: do not wait for running nodes
            for process in list(getattr(self._pool, "_processes", {}).values()):
                process.terminate()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = None

    def launch(self, op_name: str) -> None:
        assert self._pool is not None
        self._started[op_name] = time.perf_counter()
        self._futures[self._pool.submit(_pool_step, op_name)] = op_name

    def running(self) -> int:
        return len(self._futures)

    def finished(self, timeout: float) -> list[StepOutcome]:
        if not self._futures:
            return []
        done, _ = wait(list(self._futures), timeout=timeout, return_when=FIRST_COMPLETED)
        outcomes = []
        for future in done:
            op_name = self._futures.pop(future)
            try:
                outcomes.append(future.result())
            except BrokenProcessPool:
                elapsed = (time.perf_counter() - self._started[op_name]) * 1000
                outcomes.append(
                    error_outcome(
                        op_name,
                        elapsed,
                        f"The worker process running step '{op_name}' died unexpectedly "
                        "(killed, out of memory, a crash in native code, or it could not start "
                        "because the driver's __main__ module cannot be imported, e.g. under "
                        "`python -c`); the pool cannot go on.",
                    )
                )
        return outcomes
