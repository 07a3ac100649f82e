"""``launched``: the executor of the code location's jobs, for runs Dagster launches itself
(the UI's launchpad, re-executions, schedules, sensors).

No ``kedro run`` process is behind such a run, so its run worker takes that part: around the
steps it executes it opens the project's Kedro session and fires the pipeline hooks once
(:class:`~kedro_dagster_runner.workers.launched_run.LaunchedRun`), and runs the nodes one after
the other against that session's catalog and hook manager, in Kedro's order, through the
package's executor (:class:`~kedro_dagster_runner.executors.kedro_executor.KedroStepExecutor`):
the same events, the same stop at the first failure as ``kedro run`` with ``in_process``.

Its config schema is permissive: when the UI re-executes a run started by ``kedro run`` it sends
that run's ``execution.config``, which holds the options of whatever kind ran it; only
``retries`` is read. It is not a kind ``dagster.yml`` can name.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from kedro_dagster_runner import _compat
from kedro_dagster_runner.executors.base import ExecutorKind, ExecutorOptions, NodesRun, RunContext
from kedro_dagster_runner.executors.in_process import InlineLauncher
from kedro_dagster_runner.executors.kedro_executor import KedroStepExecutor
from kedro_dagster_runner.executors.options import (
    CommonOptions,
    dagster_retries,
    normalise_retries,
)

if TYPE_CHECKING:
    from dagster import DagsterEvent, ExecutorDefinition, InitExecutorContext

    from kedro_dagster_runner._compat import ExecutionPlan, PlanOrchestrationContext, RetryMode
    from kedro_dagster_runner.spec import RunSpec


class LaunchedOptions(CommonOptions):
    """Options of the code location's executor (``retries`` only)."""


class LaunchedRunExecutor(KedroStepExecutor):
    """Runs the steps of a launched run inline, inside the Kedro session the run worker opens
    for it, with the pipeline hooks around them."""

    def __init__(self, spec: RunSpec, retries: RetryMode) -> None:
        super().__init__(spec, InlineLauncher(spec), retries)
        self._job_spec = spec

    def execute(
        self, plan_context: PlanOrchestrationContext, execution_plan: ExecutionPlan
    ) -> Iterator[DagsterEvent]:
        from kedro_dagster_runner.job import spec_for_dagster_run
        from kedro_dagster_runner.workers.launched_run import LaunchedRun

        spec = spec_for_dagster_run(self._job_spec, plan_context.run_id, plan_context.instance)
        # The Kedro run id (the save version of versioned datasets), findable in the UI.
        plan_context.instance.add_run_tags(plan_context.run_id, {"kedro/run_id": spec.run_id})
        executed = set(execution_plan.step_keys_to_execute)
        op_names = [node.op_name for node in spec.nodes if node.op_name in executed]
        run = LaunchedRun.open(spec, op_names)
        try:
            self._spec = run.spec
            self._launcher = InlineLauncher(run.spec)
            try:
                run.started()
                yield from super().execute(plan_context, execution_plan)
            except BaseException as error:
                run.failed(error)
                raise
            if self._first_error is not None:
                run.failed(self._first_error)
            elif not self._any_failed:
                run.succeeded()
        finally:
            run.close()


class LaunchedKind(ExecutorKind[LaunchedOptions]):
    name = "launched"
    description = "the code location's jobs: the run worker runs the nodes as kedro run would"
    options_model = LaunchedOptions
    nodes_run: ClassVar[NodesRun] = NodesRun.DRIVER

    def executor_definition(self, spec: RunSpec) -> ExecutorDefinition:
        from dagster import Permissive, executor

        @executor(name="kedro_launched", config_schema=Permissive())
        def kedro_launched(init_context: InitExecutorContext) -> LaunchedRunExecutor:
            retries = normalise_retries(init_context.executor_config.get("retries", False))
            mode = _compat.RetryMode.ENABLED if retries else _compat.RetryMode.DISABLED
            return LaunchedRunExecutor(spec, mode)

        return kedro_launched

    def run_config(
        self, options: ExecutorOptions, spec: RunSpec, context: RunContext
    ) -> dict[str, Any]:
        return {"retries": dagster_retries(self.parse(options).retries)}


KIND = LaunchedKind()
