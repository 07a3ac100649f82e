"""``DagsterRunner``: a Kedro runner that executes the pipeline as an ephemeral Dagster job.

What it does, in order: resolve ``dagster.yml`` with ``--runner-params``
(:mod:`kedro_dagster_runner.config`), plan the run (:mod:`kedro_dagster_runner.driver.plan`: the
run spec and the run's store), hand it to Dagster attached or detached
(:mod:`kedro_dagster_runner.driver.execution`) and report the outcome the Kedro way (free outputs
back in the catalog, or the resume hint and the node's error from
:mod:`kedro_dagster_runner.driver.report`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from kedro.runner.runner import AbstractRunner

from kedro_dagster_runner import _compat
from kedro_dagster_runner.config import (
    ResolvedConfig,
    describe_sources,
    load_project_config,
    resolve_config,
)
from kedro_dagster_runner.deploy.instance import provide_instance_secrets
from kedro_dagster_runner.driver.collector import paused_for_imports
from kedro_dagster_runner.driver.execution import (
    AttachedRun,
    DetachedRun,
    RunPath,
    check_environment,
)
from kedro_dagster_runner.driver.job_selection import select_job
from kedro_dagster_runner.driver.plan import local_handoff_roots, plan_run
from kedro_dagster_runner.driver.releaser import DatasetReleaser
from kedro_dagster_runner.driver.report import run_error
from kedro_dagster_runner.driver.session_capture import DriverContext, session_capture
from kedro_dagster_runner.environment import exported
from kedro_dagster_runner.errors import ConfigError
from kedro_dagster_runner.executors import kind_named
from kedro_dagster_runner.leftovers import sweep

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline
    from pluggy import PluginManager

    from kedro_dagster_runner.driver.plan import RunPlan

_LOGGER = logging.getLogger("kedro_dagster_runner")
if _LOGGER.level == logging.NOTSET:  # like Kedro's own "kedro" logger: INFO unless configured
    _LOGGER.setLevel(logging.INFO)


class DagsterRunner(AbstractRunner):
    """Runs a Kedro pipeline as a Dagster job, one op per node, on a configurable executor.

    Configuration comes from ``conf/<env>/dagster.yml`` (see :mod:`kedro_dagster_runner.config`);
    keyword arguments (``--runner-params``) override it: keys of the ``runner:`` section
    (``executor``, ``instance``, ``handoff``, ``dagster_logs``, ``progress``, ...) replace the
    file's, any other key is an option of the chosen executor (e.g. ``max_concurrent=2``).

    ``AbstractRunner.run`` is kept as is (input checks, warm-up, ``--only-missing-outputs``, the
    returned dataset mapping); this class implements ``_run``. Pipeline hooks are fired by the
    session in the driver; node and dataset hooks fire in the process that runs the node.
    """

    def __init__(self, is_async: bool = False, **runner_params: Any) -> None:
        """Create the runner.

        Args:
            is_async: Load and save a node's datasets with threads (Kedro's ``is_async``).
            **runner_params: Overrides of dagster.yml, as described on the class.
        """
        super().__init__(is_async=is_async)
        self._runner_params = dict(runner_params)
        self._prepared: dict[str | None, tuple[DriverContext | None, ResolvedConfig]] = {}

    @property
    def _logger(self) -> logging.Logger:
        return _LOGGER

    def _get_executor(self, max_workers: int) -> Executor | None:
        """Not used: Dagster's executor schedules the nodes."""
        return None

    def resolve_config(self, driver: DriverContext | None) -> ResolvedConfig:
        """Merge the project's dagster.yml (if any) with this runner's parameters."""
        if driver is None:
            return resolve_config(None, self._runner_params, source="defaults")
        raw = load_project_config(driver.config_loader)
        loader = driver.config_loader
        source = describe_sources(
            driver.conf_source,
            driver.env,
            getattr(loader, "base_env", None),
            getattr(loader, "default_run_env", None),
        )
        return resolve_config(raw, self._runner_params, source=source)

    def run(
        self,
        pipeline: Pipeline,
        catalog: CatalogProtocol,
        hook_manager: PluginManager | None = None,
        run_id: str | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Kedro's ``AbstractRunner.run``, on the nodes of the job ``runner.job`` names when it
        names one (:mod:`~kedro_dagster_runner.driver.job_selection`), else on ``pipeline``.

        The configuration is resolved here, before Kedro checks the pipeline's inputs, so that a
        bad dagster.yml fails before anything else.
        """
        with paused_for_imports():  # until Dagster is imported (driver/collector.py)
            return self._resolve_and_run(pipeline, catalog, hook_manager, run_id, **kwargs)

    def _resolve_and_run(
        self,
        pipeline: Pipeline,
        catalog: CatalogProtocol,
        hook_manager: PluginManager | None,
        run_id: str | None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """:meth:`run` with the collector paused for the set-up."""
        driver = session_capture.for_run(run_id)
        if driver is None and run_id is not None:
            self._logger.warning(
                "DagsterRunner got no project data from the Kedro session, so dagster.yml is "
                "not read: is 'kedro-dagster-runner' in DISABLE_HOOKS_FOR_PLUGINS (settings.py)?"
            )
        config = self.resolve_config(driver)
        for notice in config.notices:
            self._logger.info(notice)
        if config.job is not None and config.runner.job is not None:
            if driver is None:
                raise ConfigError(
                    f"runner.job: job '{config.runner.job}' needs the Kedro project's registered "
                    "pipelines: run it with kedro run (or a KedroSession)."
                )
            pipeline, driver = select_job(config.runner.job, config.job, driver)
        self._prepared[run_id] = (driver, config)
        try:
            return super().run(pipeline, catalog, hook_manager, run_id, **kwargs)
        finally:
            self._prepared.pop(run_id, None)

    def _run(
        self,
        pipeline: Pipeline,
        catalog: CatalogProtocol,
        hook_manager: PluginManager | None = None,
        run_id: str | None = None,
    ) -> None:
        """Plan the run, have Dagster execute it and report the outcome the Kedro way."""
        driver, config = self._prepared.get(run_id) or (None, self.resolve_config(None))
        loader = driver.config_loader if driver else None
        # The instance's password from credentials is set for this run only, then removed.
        with exported(provide_instance_secrets(config.runner.instance, loader)):
            self._run_with(config, driver, pipeline, catalog, hook_manager, run_id)

    def _run_with(
        self,
        config: ResolvedConfig,
        driver: DriverContext | None,
        pipeline: Pipeline,
        catalog: CatalogProtocol,
        hook_manager: PluginManager | None,
        run_id: str | None,
    ) -> None:
        """``_run`` once the configuration is resolved and the instance's secrets exported."""
        from kedro.io.core import generate_timestamp

        check_environment(config)
        if not config.runner.detached and config.runner.detached_run_tags():
            self._logger.warning(
                "runner.run_retries, run_priority and max_runtime are acted on by the instance's "
                "daemon and run queue, for detached runs only (runner.submit: detached); this "
                "attached run ignores them."
            )
        sweep(local_handoff_roots(config.runner.handoff))  # left by kedro runs that died
        run_id = run_id or generate_timestamp()
        plan = plan_run(pipeline, catalog, hook_manager, config, driver, run_id, self._is_async)
        if plan.spec.retries_nodes and not kind_named(config.executor.kind).honours_retry_policies:
            self._logger.warning(
                "retry_policies are not applied: the '%s' executor (%s) never retries a step; "
                "a failed node fails the run at once.",
                config.executor.name,
                config.executor.kind,
            )
        path = self._path(config, plan, pipeline, catalog)
        self._logger.info(
            "%s %d nodes as Dagster job '%s' on the %s executor",
            "Submitting" if config.runner.detached else "Running",
            len(plan.spec.nodes),
            plan.spec.job_name,
            config.executor.kind,
        )
        with plan.lifetime(path.in_flight, self._logger):
            plan.publish(pipeline, catalog)
            outcome = path.run()
            if outcome is None:  # a detached run kedro run does not follow
                return
            if outcome.failed:
                done = set(outcome.progress.done)
                done_nodes = [node for node in pipeline.nodes if node.name in done]
                _compat.suggest_resume(self, pipeline, done_nodes, catalog)
                raise run_error(
                    plan.spec,
                    outcome.progress,
                    plan.store,
                    outcome.status,
                    outcome.failure_message,
                )
            plan.return_free_outputs(pipeline, catalog)

    def _path(
        self,
        config: ResolvedConfig,
        plan: RunPlan,
        pipeline: Pipeline,
        catalog: CatalogProtocol,
    ) -> RunPath:
        """Detached or attached; an attached run releases data as Kedro's runners do."""
        if config.runner.detached:
            return DetachedRun(config, plan, self._logger)
        releaser = DatasetReleaser(pipeline, catalog, plan.discard_handoff)
        return AttachedRun(config, plan, self._logger, releaser.node_done)
