"""The package's own Dagster executors: nodes run inline, in a warm local pool, on dask or Celery.

Dagster's stock multiprocess executor starts a fresh process per step that re-imports everything,
rebuilds the Kedro context and the whole execution plan (seconds per step, O(N) per step), and
its stock in-process executor runs every op through Dagster's step machinery. These executors
keep Dagster as the orchestrator and event log but launch work cheaply:

* the orchestrator (the ``kedro run`` process) walks the execution plan with Dagster's
  ``ActiveExecution`` (dependencies, ``max_concurrent``, tag concurrency limits, skips after a
  failure) and records every step event itself: STEP_START, asset observations and
  materializations, one STEP_OUTPUT per dataset written, STEP_SUCCESS with the measured duration,
  or STEP_FAILURE with the node's error, so runs show in the Dagster UI with per-step timing;
* a launcher (:mod:`kedro_dagster_runner.launchers`, ``dask_launcher``, ``celery_launcher``)
  runs the node: inline in the orchestrator (``in_process``), in a pool of long-lived local
  processes (``multiprocess``), or on dask / Celery workers. Workers rebuild the Kedro context
  once per process and run, and never build the Dagster job or touch the Dagster instance.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from dagster import executor
from dagster._core.events import DagsterEvent, DagsterEventType
from dagster._core.execution.plan.active import ActiveExecution
from dagster._core.execution.plan.objects import StepSuccessData
from dagster._core.execution.plan.outputs import StepOutputData, StepOutputHandle
from dagster._core.execution.retries import RetryMode
from dagster._core.executor.base import Executor

from kedro_dagster_runner.launchers import InlineLauncher, Launcher, PoolLauncher, StepOutcome
from kedro_dagster_runner.logging import record_in_event_log
from kedro_dagster_runner.spec import RunSpec

_POLL_SECONDS = 0.5


# Orchestration ---------------------------------------------------------------------------------


class KedroStepExecutor(Executor):
    """Walks the plan with ``ActiveExecution`` and records step events for a launcher's work."""

    def __init__(
        self,
        spec: RunSpec,
        launcher: Launcher,
        retries: RetryMode,
        tag_concurrency_limits: list[dict[str, Any]] | None = None,
    ) -> None:
        self._spec = spec
        self._any_failed = False
        self._launcher = launcher
        self._retries = retries
        self._tag_concurrency_limits = tag_concurrency_limits

    @property
    def retries(self) -> RetryMode:
        return self._retries

    def execute(self, plan_context: Any, execution_plan: Any) -> Iterator[DagsterEvent]:
        self._any_failed = False
        try:
            yield from self._orchestrate(plan_context, execution_plan)
        except BaseException:
            self._any_failed = True
            raise
        finally:
            if self._spec.handoff_owned_by_run:  # a detached run nobody waits for
                self._end_unfollowed_run(plan_context)

    def _end_unfollowed_run(self, plan_context: Any) -> None:
        """What the driver does at the end of a followed run: end the MLflow run, remove the
        handoff store. Problems are logged; the Dagster run's outcome stays the nodes'."""
        from kedro_dagster_runner.handoff import HandoffStore
        from kedro_dagster_runner.mlflow_bridge import finish

        spec = self._spec
        finish(spec.mlflow_run_id, spec.mlflow_tracking_uri, self._any_failed)
        if spec.handoff_uri:
            try:
                HandoffStore(spec.handoff_uri).remove()
            except Exception as error:
                plan_context.log.warning(f"Could not remove {spec.handoff_uri}: {error}")

    def _orchestrate(self, plan_context: Any, execution_plan: Any) -> Iterator[DagsterEvent]:
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
        for level, message in outcome.logs:  # node logs, into the run's event log
            record_in_event_log(step_context.log, level, message)
        events: list[DagsterEvent]
        self._any_failed = self._any_failed or not outcome.ok
        if outcome.ok:
            events = asset_events(step_context, outcome)
            events += [
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


def asset_events(step_context: Any, outcome: StepOutcome) -> list[DagsterEvent]:
    """Observations of the persisted inputs, materializations of the persisted outputs."""
    from dagster import AssetKey, AssetMaterialization, AssetObservation

    from kedro_dagster_runner.assets import asset_key_path

    events = [
        DagsterEvent.asset_observation(
            step_context, AssetObservation(AssetKey(asset_key_path(name)), metadata=metadata)
        )
        for name, metadata in outcome.observed.items()
    ]
    events += [
        DagsterEvent.asset_materialization(
            step_context, AssetMaterialization(AssetKey(asset_key_path(name)), metadata=metadata)
        )
        for name, metadata in outcome.materialized.items()
    ]
    return events


def _retry_mode(options: dict[str, Any]) -> RetryMode:
    return RetryMode.ENABLED if options.get("retries") else RetryMode.DISABLED


def make_launcher(spec: RunSpec, options: dict[str, Any]) -> Launcher:
    """The launcher of the run's executor kind, configured from its dagster.yml options."""
    kind = spec.executor_kind
    if kind == "in_process":
        return InlineLauncher(spec)
    if kind == "multiprocess":
        return PoolLauncher(
            spec,
            max_concurrent=options.get("max_concurrent") or os.cpu_count() or 1,
            start_method=options.get("start_method", "forkserver"),
            preload_modules=tuple(options.get("preload_modules") or ()),
        )
    if kind == "dask":
        from kedro_dagster_runner.dask_launcher import DaskLauncher

        return DaskLauncher(spec, options)
    if kind == "celery":
        from kedro_dagster_runner.celery_launcher import CeleryLauncher

        return CeleryLauncher(spec, options)
    raise ValueError(f"no launcher for executor kind '{kind}'")


_DRIVER_OPTIONS: dict[str, dict[str, Any]] = {}


def register_driver_options(run_id: str, options: dict[str, Any]) -> None:
    """Give the executor of run ``run_id`` its full options (kept out of the run spec, which
    is stored with the Dagster run, because they may hold connection URLs with passwords)."""
    _DRIVER_OPTIONS[run_id] = dict(options)


def kedro_executor_definition(spec: RunSpec) -> Any:
    """The ``ExecutorDefinition`` for the package's own kinds (in_process, multiprocess, ...)."""

    @executor(name=f"kedro_{spec.executor_kind}", config_schema={})
    def _kedro_executor(init_context: Any) -> KedroStepExecutor:
        options = _DRIVER_OPTIONS.get(spec.run_id, spec.executor_options)
        return KedroStepExecutor(
            spec,
            make_launcher(spec, options),
            _retry_mode(options),
            tag_concurrency_limits=options.get("tag_concurrency_limits"),
        )

    return _kedro_executor
