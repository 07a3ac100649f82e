"""The executor of runs Dagster launches (see :mod:`kedro_dagster_runner.executors.launched`):
imported only when such a run executes, because it imports Dagster."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack
from typing import TYPE_CHECKING

from kedro_dagster_runner.errors import ConfigError
from kedro_dagster_runner.executors.base import NodesRun
from kedro_dagster_runner.executors.in_process import InlineLauncher
from kedro_dagster_runner.executors.kedro_executor import KedroStepExecutor
from kedro_dagster_runner.executors.launched import EXECUTOR_TAG
from kedro_dagster_runner.executors.package_kind import PackageExecutorKind

PARTITION_TAG = "dagster/partition"

if TYPE_CHECKING:
    from dagster import DagsterEvent

    from kedro_dagster_runner._compat import ExecutionPlan, PlanOrchestrationContext, RetryMode
    from kedro_dagster_runner.driver.launched_run import LaunchedRun
    from kedro_dagster_runner.executors.launcher import NodeLauncher
    from kedro_dagster_runner.spec import RunSpec


class LaunchedRunExecutor(KedroStepExecutor):
    """Runs the steps of a launched run inside the Kedro session the run worker opens for it,
    with the pipeline hooks around them, on the job's executor when its nodes can run from a run
    worker (the package's own kinds), else inline."""

    def __init__(self, spec: RunSpec, retries: RetryMode) -> None:
        super().__init__(spec, InlineLauncher(spec), retries)
        self._job_spec = spec

    def execute(
        self, plan_context: PlanOrchestrationContext, execution_plan: ExecutionPlan
    ) -> Iterator[DagsterEvent]:
        from kedro_dagster_runner.driver.launched_run import LaunchedRun
        from kedro_dagster_runner.job import spec_for_dagster_run
        from kedro_dagster_runner.ui.launchpad_params import runtime_params

        spec = spec_for_dagster_run(self._job_spec, plan_context.run_id, plan_context.instance)
        # The Kedro run id (the save version of versioned datasets), findable in the UI.
        plan_context.instance.add_run_tags(plan_context.run_id, {"kedro/run_id": spec.run_id})
        executed = set(execution_plan.step_keys_to_execute)
        op_names = [node.op_name for node in spec.nodes if node.op_name in executed]
        dagster_run = plan_context.dagster_run
        params = runtime_params(dagster_run.run_config, spec.parameters or {})
        run = LaunchedRun.open(spec, op_names, dagster_run.tags.get(PARTITION_TAG), params)
        with ExitStack() as cleanup:
            cleanup.callback(run.close)
            try:
                run.started()
                self._spec, self._launcher = self._placement(run, plan_context, cleanup)
                yield from super().execute(plan_context, execution_plan)
            except BaseException as error:
                run.failed(error)
                raise
            if self._first_error is not None:
                run.failed(self._first_error)
            elif not self._any_failed:
                run.succeeded()

    def _placement(
        self, run: LaunchedRun, plan_context: PlanOrchestrationContext, cleanup: ExitStack
    ) -> tuple[RunSpec, NodeLauncher]:
        """The spec and launcher of the run's nodes: the job's executor when it is one of the
        package's kinds whose nodes run outside the orchestrating process (``multiprocess``,
        ``dask``, ``celery``: the run is planned as ``kedro run`` plans it, its store removed
        afterwards), else inline in the run worker."""
        from kedro_dagster_runner.config import load_project_config, resolve_config
        from kedro_dagster_runner.driver.plan import plan_run
        from kedro_dagster_runner.executors import kind_named

        wanted = run.spec.tags.get(EXECUTOR_TAG)
        overrides = {"executor": wanted} if wanted else {}
        inline = "the nodes of this run, which Dagster launched, run in the run worker"
        try:
            config = resolve_config(load_project_config(run.driver.config_loader), overrides)
        except ConfigError as error:  # e.g. a container kind without a shared instance
            plan_context.log.warning(f"Executor '{wanted}' cannot run here ({error}): {inline}.")
            return run.spec, InlineLauncher(run.spec)
        kind = kind_named(config.executor.kind)
        if not isinstance(kind, PackageExecutorKind):
            plan_context.log.warning(
                f"Executor '{config.executor.name}' ({kind.name}) is used by kedro run only: "
                f"{inline}."
            )
            return run.spec, InlineLauncher(run.spec)
        if kind.nodes_run is NodesRun.DRIVER:
            return run.spec, InlineLauncher(run.spec)
        plan = plan_run(
            run.job_pipeline, run.catalog, run.hook_manager, config, run.driver, run.spec.run_id,
            is_async=False, nodes=run.spec.nodes,
        )  # fmt: skip
        cleanup.enter_context(plan.lifetime(lambda: False, logging.getLogger(__name__)))
        plan.publish(run.job_pipeline, run.catalog)
        return plan.spec, kind.make_launcher(plan.spec, kind.parse(config.executor.options))
