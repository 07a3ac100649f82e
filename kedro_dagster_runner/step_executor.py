"""The package's own Dagster executors: nodes run inline or in a warm worker pool.

Dagster's stock executors run every step through its full step machinery: the in-process one
builds a step execution context per op (40-100 ms each here), the multiprocess one starts a fresh
process per step that re-imports everything, rebuilds the Kedro context and the whole execution
plan (seconds per step, O(N) per step). These executors keep Dagster as the orchestrator and event
log but launch work cheaply:

* the orchestrator (the ``kedro run`` process) walks the execution plan with Dagster's
  ``ActiveExecution`` (dependencies, ``max_concurrent``, tag concurrency limits, skips after a
  failure) and records every step event itself: STEP_START, one STEP_OUTPUT per dataset written,
  STEP_SUCCESS with the measured duration, or STEP_FAILURE with the node's error, so runs show in
  the Dagster UI with the same per-step timing as any other executor;
* :class:`InlineLauncher` runs the node in the orchestrator itself (``in_process``);
* :class:`PoolLauncher` keeps a pool of long-lived worker processes, each of which rebuilds the
  Kedro context once and then runs node after node (``multiprocess``). Workers never build the
  Dagster job or touch the Dagster instance.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from dagster import executor
from dagster._core.events import DagsterEvent, DagsterEventType
from dagster._core.execution.plan.active import ActiveExecution
from dagster._core.execution.plan.objects import StepSuccessData
from dagster._core.execution.plan.outputs import StepOutputData, StepOutputHandle
from dagster._core.execution.retries import RetryMode
from dagster._core.executor.base import Executor
from dagster._utils.error import SerializableErrorInfo, serializable_error_info_from_exc_info

from kedro_dagster_runner.spec import RunSpec

# Modules the forkserver imports once so that each worker starts with Kedro already loaded.
FORKSERVER_PRELOAD = ("kedro_dagster_runner.worker", "kedro.framework.session", "kedro.runner")
_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class StepOutcome:
    """What running one node returned: success, or the error as Dagster serialises it."""

    op_name: str
    duration_ms: float
    error: SerializableErrorInfo | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def run_step(spec: RunSpec, op_name: str) -> StepOutcome:
    """Run the node behind ``op_name`` in this process and report how it went (never raises)."""
    from kedro_dagster_runner.worker import run_node

    started = time.perf_counter()
    try:
        run_node(spec, spec.node_by_op[op_name])
    except Exception:
        error = serializable_error_info_from_exc_info(sys.exc_info())
        return StepOutcome(op_name, (time.perf_counter() - started) * 1000, error)
    return StepOutcome(op_name, (time.perf_counter() - started) * 1000)


class InlineLauncher:
    """Runs each node in the orchestrating process, one at a time."""

    max_concurrent = 1

    def __init__(self, spec: RunSpec) -> None:
        self._spec = spec
        self._done: list[StepOutcome] = []

    def __enter__(self) -> InlineLauncher:
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.clear()

    def launch(self, op_name: str) -> None:
        self._done.append(run_step(self._spec, op_name))

    def finished(self, timeout: float) -> list[StepOutcome]:
        done, self._done = self._done, []
        return done

    def running(self) -> int:
        return 0


# Worker-process side of the pool -------------------------------------------------------------

_WORKER_SPEC: RunSpec | None = None


def _init_worker(spec_json: str) -> None:
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
    """A pool of long-lived worker processes for one run."""

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
            initializer=_init_worker,
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
        """Outcomes of the nodes that finished within ``timeout`` seconds."""
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
                outcomes.append(StepOutcome(op_name, elapsed, _crash_error(op_name)))
        return outcomes


def _crash_error(op_name: str) -> SerializableErrorInfo:
    try:
        raise RuntimeError(
            f"The worker process running step '{op_name}' died unexpectedly (killed, out of "
            "memory, a crash in native code, or it could not start because the driver's "
            "__main__ module cannot be imported, e.g. under `python -c`); the pool cannot go on."
        )
    except RuntimeError:
        return serializable_error_info_from_exc_info(sys.exc_info())


# Orchestration ---------------------------------------------------------------------------------


class KedroStepExecutor(Executor):
    """Walks the plan with ``ActiveExecution`` and records step events for a launcher's work."""

    def __init__(
        self,
        spec: RunSpec,
        launcher: InlineLauncher | PoolLauncher,
        retries: RetryMode,
        tag_concurrency_limits: list[dict[str, Any]] | None = None,
    ) -> None:
        self._spec = spec
        self._launcher = launcher
        self._retries = retries
        self._tag_concurrency_limits = tag_concurrency_limits

    @property
    def retries(self) -> RetryMode:
        return self._retries

    def execute(self, plan_context: Any, execution_plan: Any) -> Iterator[DagsterEvent]:
        limit = self._launcher.max_concurrent
        with (
            ActiveExecution(
                execution_plan,
                retry_mode=self.retries,
                max_concurrent=limit,
                tag_concurrency_limits=self._tag_concurrency_limits,
            ) as active,
            self._launcher as launcher,
        ):
            while not active.is_complete:
                if active.check_for_interrupts():
                    active.mark_interrupted()
                    raise KeyboardInterrupt
                for step in active.get_steps_to_execute(limit=limit - launcher.running()):
                    event = DagsterEvent.step_start_event(plan_context.for_step(step))
                    active.handle_event(event)
                    yield event
                    launcher.launch(step.key)
                for outcome in launcher.finished(timeout=_POLL_SECONDS):
                    yield from self._report(plan_context, active, outcome)
                    active.verify_complete(plan_context, outcome.op_name)
                yield from active.plan_events_iterator(plan_context)
                if not launcher.running() and not active.is_complete:
                    active.sleep_til_ready()

    def _report(
        self, plan_context: Any, active: ActiveExecution, outcome: StepOutcome
    ) -> Iterator[DagsterEvent]:
        step = active.get_step_by_key(outcome.op_name)
        step_context = plan_context.for_step(step)
        events: list[DagsterEvent]
        if outcome.ok:
            events = [
                DagsterEvent.from_step(
                    DagsterEventType.STEP_OUTPUT,
                    step_context,
                    StepOutputData(StepOutputHandle(step.key, output.name)),
                    message=f'Yielded output "{output.name}" of type "Nothing".',
                )
                for output in step.step_outputs
            ]
            events.append(
                DagsterEvent.step_success_event(
                    step_context, StepSuccessData(duration_ms=outcome.duration_ms)
                )
            )
        else:
            assert outcome.error is not None
            events = [
                self.log_failure_or_retry_event_after_error(
                    step_context, outcome.error, active.get_known_state()
                )
            ]
        for event in events:
            active.handle_event(event)
            yield event


def _retry_mode(options: dict[str, Any]) -> RetryMode:
    return RetryMode.ENABLED if options.get("retries") else RetryMode.DISABLED


def kedro_executor_definition(spec: RunSpec) -> Any:
    """The ``ExecutorDefinition`` for the package's own kinds, in_process and multiprocess."""
    options = spec.executor_options

    @executor(name=f"kedro_{spec.executor_kind}", config_schema={})
    def _kedro_executor(init_context: Any) -> KedroStepExecutor:
        launcher: InlineLauncher | PoolLauncher
        if spec.executor_kind == "in_process":
            launcher = InlineLauncher(spec)
        else:
            launcher = PoolLauncher(
                spec,
                max_concurrent=options.get("max_concurrent") or os.cpu_count() or 1,
                start_method=options.get("start_method", "forkserver"),
                preload_modules=tuple(options.get("preload_modules") or ()),
            )
        return KedroStepExecutor(
            spec,
            launcher,
            _retry_mode(options),
            tag_concurrency_limits=options.get("tag_concurrency_limits"),
        )

    return _kedro_executor
