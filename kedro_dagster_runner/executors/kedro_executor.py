"""The package's own Dagster executor, shared by the kinds that launch nodes cheaply.

Dagster's stock multiprocess executor starts a fresh process per step that re-imports everything,
rebuilds the Kedro context and the whole execution plan (seconds per step, O(N) per step), and
its stock in-process executor runs every op through Dagster's step machinery. This executor keeps
Dagster as the orchestrator and event log but launches work cheaply:

* the orchestrator (the ``kedro run`` process, or a detached run's worker) walks the execution
  plan with Dagster's ``ActiveExecution`` (dependencies, ``max_concurrent``, tag concurrency
  limits, skips after a failure) and records every step event itself: STEP_START, asset
  observations and materializations, one STEP_OUTPUT per dataset written, STEP_SUCCESS with the
  measured duration, or STEP_FAILURE with the node's error;
* a :class:`~kedro_dagster_runner.executors.launcher.NodeLauncher` of the kind runs the node:
  inline, in a pool of long-lived local processes, or on dask / Celery workers. Workers rebuild
  the Kedro context once per process and never build the Dagster job or touch the instance.

A kind using it subclasses
:class:`~kedro_dagster_runner.executors.package_kind.PackageExecutorKind`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

from dagster import (
    AssetObservation,
    DagsterEvent,
    DagsterEventType,
    Executor,
)

from kedro_dagster_runner import _compat
from kedro_dagster_runner.executors.launcher import NodeLauncher
from kedro_dagster_runner.mlflow_bridge import finish
from kedro_dagster_runner.spec import RunSpec
from kedro_dagster_runner.workers.records import (
    asset_records,
    check_evaluations,
    write_node_logs,
)
from kedro_dagster_runner.workers.store import open_store

if TYPE_CHECKING:
    from kedro_dagster_runner._compat import (
        ActiveExecution,
        ExecutionPlan,
        PlanOrchestrationContext,
        RetryMode,
    )
    from kedro_dagster_runner.workers.outcome import StepOutcome

_POLL_SECONDS = 0.5


class KedroStepExecutor(Executor):
    """Walks the plan with ``ActiveExecution`` and records step events for a launcher's work."""

    def __init__(
        self,
        spec: RunSpec,
        launcher: NodeLauncher,
        retries: RetryMode,
        tag_concurrency_limits: list[dict[str, Any]] | None = None,
    ) -> None:
        self._spec = spec
        self._any_failed = False
        self._first_failure: str | None = None
        self._first_error: BaseException | None = None
        self._up_for_retry: set[str] = set()  # steps Dagster will start again
        self._launcher = launcher
        self._retries = retries
        self._tag_concurrency_limits = tag_concurrency_limits

    @property
    def retries(self) -> RetryMode:
        return self._retries

    def execute(
        self, plan_context: PlanOrchestrationContext, execution_plan: ExecutionPlan
    ) -> Iterator[DagsterEvent]:
        self._any_failed = False
        self._first_failure = None
        self._first_error = None
        self._up_for_retry = set()
        try:
            yield from self._orchestrate(plan_context, execution_plan)
        except BaseException:
            self._any_failed = True
            raise
        finally:
            if self._spec.handoff_owned_by_run:  # a detached run nobody waits for
                self._end_unfollowed_run(plan_context)

    def _end_unfollowed_run(self, plan_context: PlanOrchestrationContext) -> None:
        """What the driver does at the end of a followed run: end the MLflow run, remove the
        run's store. Problems are logged; the Dagster run's outcome stays the nodes'."""
        spec = self._spec
        finish(spec.mlflow_run_id, spec.mlflow_tracking_uri, self._any_failed)
        if spec.handoff_uri:
            try:
                open_store(spec.handoff_uri).remove()
            except Exception as error:
                plan_context.log.warning(f"Could not remove {spec.handoff_uri}: {error}")

    def _orchestrate(
        self, plan_context: PlanOrchestrationContext, execution_plan: ExecutionPlan
    ) -> Iterator[DagsterEvent]:
        limit = self._launcher.max_concurrent
        with (
            # Dagster's concurrency pools: a node of a pool starts once the instance grants it a
            # slot of the pool, whatever other runs of the instance hold.
            _compat.InstanceConcurrencyContext(plan_context.instance, plan_context.dagster_run)
            if self._spec.uses_pools
            else nullcontext() as pools,
            # Ready steps start in Kedro's topological order (the ops' priority tags, see
            # job._make_op), so in_process runs nodes in exactly SequentialRunner's order.
            _compat.ActiveExecution(
                execution_plan,
                retry_mode=self.retries,
                max_concurrent=limit,
                tag_concurrency_limits=self._tag_concurrency_limits,
                instance_concurrency_context=pools,
            ) as active,
            self._launcher as launcher,
        ):
            while not active.is_complete:
                if active.check_for_interrupts():
                    active.mark_interrupted()
                    raise KeyboardInterrupt
                if self._stopping():
                    _abandon_ready_steps(plan_context, active, self._first_failure)
                else:
                    for step in active.get_steps_to_execute(limit=limit - launcher.running()):
                        event = DagsterEvent.step_start_event(plan_context.for_step(step))
                        active.handle_event(event)
                        yield event
                        self._before_retry(step.key)
                        launcher.launch(step.key)
                for outcome in launcher.finished(timeout=_POLL_SECONDS):
                    yield from self._report(plan_context, active, outcome)
                    active.verify_complete(plan_context, outcome.op_name)
                yield from active.plan_events_iterator(plan_context)
                if not launcher.running() and not active.is_complete:
                    active.sleep_til_ready()

    def _before_retry(self, step_key: str) -> None:
        """A step started again after ``STEP_UP_FOR_RETRY`` is a new delivery: its earlier
        claim and outcome in the run's store must not make workers refuse it as a duplicate."""
        if step_key in self._up_for_retry:
            self._up_for_retry.discard(step_key)
            if self._spec.handoff_uri:
                open_store(self._spec.handoff_uri).forget_step(step_key)

    def _stopping(self) -> bool:
        """True once a node failed in a run that stops at its first failure (Kedro's way)."""
        return self._first_failure is not None and self._spec.stops_at_first_failure

    def _report(
        self,
        plan_context: PlanOrchestrationContext,
        active: ActiveExecution,
        outcome: StepOutcome,
    ) -> Iterator[DagsterEvent]:
        step = active.get_step_by_key(outcome.op_name)
        step_context = plan_context.for_step(step)
        write_node_logs(step_context.log, outcome)
        events: list[DagsterEvent] = [
            DagsterEvent.asset_check_evaluation(step_context, evaluation)
            for evaluation in check_evaluations(outcome)
        ]
        if outcome.failure is None:
            events += [
                DagsterEvent.asset_observation(step_context, record)
                if isinstance(record, AssetObservation)
                else DagsterEvent.asset_materialization(step_context, record)
                for record in asset_records(outcome)
            ]
            events += [
                DagsterEvent.from_step(
                    DagsterEventType.STEP_OUTPUT,
                    step_context,
                    _compat.StepOutputData(_compat.StepOutputHandle(step.key, output.name)),
                    message=f'Yielded output "{output.name}" of type "Nothing".',
                )
                for output in step.step_outputs
            ]
            events.append(
                DagsterEvent.step_success_event(
                    step_context, _compat.StepSuccessData(duration_ms=outcome.duration_ms)
                )
            )
        else:
            ended = self.log_failure_or_retry_event_after_error(
                step_context, outcome.failure.error_info(), active.get_known_state()
            )
            events.append(ended)
            if ended.event_type_value == "STEP_UP_FOR_RETRY":
                self._up_for_retry.add(step.key)
            if ended.event_type_value == "STEP_FAILURE":  # not a retry: the node failed
                self._any_failed = True
                if self._first_failure is None:
                    self._first_failure = step.key
                    self._first_error = outcome.failure.stand_in()
        for event in events:
            active.handle_event(event)
            yield event


def _abandon_ready_steps(
    plan_context: PlanOrchestrationContext, active: ActiveExecution, failed_op: str | None
) -> None:
    """Do not start the steps that are ready: the run stops at its first failure, as Kedro's
    runners do. Steps downstream of an abandoned one are abandoned in turn by Dagster's plan
    events, so the plan completes once the running nodes are done."""
    for step in active.get_steps_to_execute():
        plan_context.for_step(step).log.info(
            f"Not starting step {step.key}: step {failed_op} failed and the run stops at its "
            "first failure, as Kedro's runners do (runner.on_failure: continue runs on)."
        )
        active.mark_abandoned(step.key)
