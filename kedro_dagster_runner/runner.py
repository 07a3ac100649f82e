"""``DagsterRunner``: a Kedro runner that executes the pipeline as an ephemeral Dagster job."""

from __future__ import annotations

import logging
import shutil
import tempfile
import uuid
from collections import Counter
from itertools import chain
from typing import TYPE_CHECKING, Any

from kedro.runner.runner import AbstractRunner

from kedro_dagster_runner.config import (
    ResolvedConfig,
    describe_sources,
    load_project_config,
    masked_options,
    resolve_config,
)
from kedro_dagster_runner.errors import (
    DagsterRunnerError,
    NodeFailedError,
    RemoteNodeError,
    UnpicklableDataError,
)
from kedro_dagster_runner.executors import OWN_EXECUTOR_KINDS
from kedro_dagster_runner.handoff import (
    HandoffStore,
    detached_handoff_root,
    is_parameter,
    needs_handoff,
)
from kedro_dagster_runner.mlflow_bridge import driver_run
from kedro_dagster_runner.naming import job_name_for, unique_op_names
from kedro_dagster_runner.session_capture import DriverContext, session_capture
from kedro_dagster_runner.spec import NodeSpec, ProjectSpec, RunSpec
from kedro_dagster_runner.tags import run_tags

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline
    from pluggy import PluginManager

    from kedro_dagster_runner.progress import RunProgress

_LOGGER = logging.getLogger("kedro_dagster_runner")
if _LOGGER.level == logging.NOTSET:  # like Kedro's own "kedro" logger: INFO unless configured
    _LOGGER.setLevel(logging.INFO)

_DAGSTER_LOG_LEVELS = {
    "off": "CRITICAL",
    "error": "ERROR",
    "warning": "WARNING",
    "info": "INFO",
    "debug": "DEBUG",
}


class _DatasetReleaser:
    """Releases each dataset once the last node reading it is done, as Kedro's runners do.

    The pipeline's free inputs and outputs are computed once (Kedro recomputes them per node,
    which is O(N) per node).
    """

    def __init__(self, pipeline: Pipeline, catalog: CatalogProtocol) -> None:
        self._catalog = catalog
        self._load_counts = Counter(chain.from_iterable(node.inputs for node in pipeline.nodes))
        self._keep = pipeline.inputs() | pipeline.outputs()

    def node_done(self, node: Any) -> None:
        for name in node.inputs:
            self._load_counts[name] -= 1
        for name in (*node.inputs, *node.outputs):
            if self._load_counts[name] < 1 and name not in self._keep:
                self._catalog.release(name)


class DagsterRunner(AbstractRunner):
    """Runs a Kedro pipeline as a Dagster job, one op per node, on a configurable executor.

    Configuration comes from ``conf/<env>/dagster.yml`` (see :mod:`kedro_dagster_runner.config`);
    keyword arguments (``--runner-params``) override it: keys of the ``runner:`` section
    (``executor``, ``instance``, ``handoff``, ``dagster_logs``, ``progress``) replace the file's,
    any other key is an option of the chosen executor (e.g. ``max_concurrent=2``).

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
        self._run_in_flight = False

    @property
    def _logger(self) -> logging.Logger:
        return _LOGGER

    def _get_executor(self, max_workers: int) -> Executor | None:
        """Not used: Dagster's executor schedules the nodes."""
        return None

    def resolve_config(self, driver: DriverContext | None) -> ResolvedConfig:
        """Merge the project's dagster.yml (if any) with this runner's parameters."""
        raw = load_project_config(driver.config_loader) if driver is not None else None
        source = (
            describe_sources(driver.conf_source, driver.env) if driver is not None else "defaults"
        )
        return resolve_config(raw, self._runner_params, source=source)

    def _run(
        self,
        pipeline: Pipeline,
        catalog: CatalogProtocol,
        hook_manager: PluginManager | None = None,
        run_id: str | None = None,
    ) -> None:
        """Build the run spec and the job, execute it and report the outcome the Kedro way."""
        from kedro.io.core import generate_timestamp

        from kedro_dagster_runner.executors import runs_in_driver

        driver = session_capture.for_run(run_id)
        if driver is None and run_id is not None:
            self._logger.warning(
                "DagsterRunner got no project data from the Kedro session, so dagster.yml is "
                "not read: is 'kedro-dagster-runner' in DISABLE_HOOKS_FOR_PLUGINS (settings.py)?"
            )
        config = self.resolve_config(driver)
        kind = config.executor.kind
        self._check_instance_fits(config)
        detached = config.runner.submit == "detached"
        in_driver = runs_in_driver(kind) and not detached
        if not in_driver and driver is None:
            where = "in a run worker" if detached else "in other processes"
            raise DagsterRunnerError(
                f"Executor '{config.executor.name}' ({kind}) runs nodes {where}, which "
                "rebuild the Kedro project; that needs a run started through a KedroSession "
                "(`kedro run` or `KedroSession.run`). Use the in_process executor otherwise."
            )
        run_id = run_id or generate_timestamp()
        self._provide_instance_secrets(config, driver)
        self._check_env_vars(config)
        handoff_root = None if in_driver else self._handoff_root(config)
        spec = self._build_spec(pipeline, catalog, config, driver, run_id, handoff_root)
        self._logger.info(
            "%s %d nodes as Dagster job '%s' on the %s executor",
            "Submitting" if detached else "Running",
            len(spec.nodes),
            spec.job_name,
            kind,
        )
        store = HandoffStore(spec.handoff_uri) if spec.handoff_uri else None
        # Set while a launched detached run may still read its spec and data from the store.
        self._run_in_flight = False
        try:
            if store is not None:
                store.write_spec(spec.to_json())
                self._check_cross_process_data(pipeline, catalog, spec, store)
            if detached:
                self._submit(pipeline, catalog, spec, config, store)
            else:
                self._execute(pipeline, catalog, hook_manager, spec, config, store)
        finally:
            if store is not None and not self._run_in_flight:
                store.remove()
            elif store is not None and not spec.handoff_owned_by_run:
                self._logger.warning(
                    "The run's handoff data stays in %s (remove it once the run has ended)",
                    spec.handoff_uri,
                )
            if handoff_root is not None and config.runner.handoff is None and not detached:
                shutil.rmtree(handoff_root, ignore_errors=True)

    @staticmethod
    def _check_instance_fits(config: ResolvedConfig) -> None:
        from kedro_dagster_runner.config import InstanceSettings
        from kedro_dagster_runner.errors import ConfigError
        from kedro_dagster_runner.executors import needs_shared_instance

        kind = config.executor.kind
        instance = config.runner.instance
        shared = isinstance(instance, InstanceSettings) or instance == "dagster_home"
        if needs_shared_instance(kind) and not shared:
            raise ConfigError(
                f"runner.instance: the '{kind}' executor runs steps in containers that record "
                "their events in the Dagster instance, so it needs a shared instance: set "
                "runner.instance to {postgres: {...}}, or to dagster_home with a Postgres "
                "dagster.yaml in $DAGSTER_HOME (see docs/configuration.md)."
            )

    @staticmethod
    def _provide_instance_secrets(config: ResolvedConfig, driver: DriverContext | None) -> None:
        """Fill the Postgres password variable from Kedro credentials when configured so."""
        from kedro_dagster_runner.config import InstanceSettings
        from kedro_dagster_runner.instance import provide_postgres_password

        setting = config.runner.instance
        if isinstance(setting, InstanceSettings) and setting.postgres.credentials:
            from kedro.config import MissingConfigException

            try:
                credentials = driver.config_loader["credentials"] if driver is not None else {}
            except (MissingConfigException, KeyError):
                credentials = {}
            provide_postgres_password(setting.postgres, credentials)

    @staticmethod
    def _check_env_vars(config: ResolvedConfig) -> None:
        """Variables passed to containers by name must be set here (Dagster reads them here)."""
        from kedro_dagster_runner.errors import ConfigError
        from kedro_dagster_runner.executors import CONTAINER_KINDS, missing_env_vars

        for choice in (config.executor, config.launcher):
            if choice is None or choice.kind not in CONTAINER_KINDS:
                continue
            missing = missing_env_vars(list(choice.options.get("env_vars", [])))
            if missing:
                raise ConfigError(
                    f"executors.{choice.name}.{choice.kind}.env_vars: {', '.join(missing)} "
                    "not set in the kedro run process; export them or remove them from the list."
                )

    @staticmethod
    def _handoff_root(config: ResolvedConfig) -> str:
        """Where run-scoped handoff stores go.

        Default: a fresh temp dir removed after the run, or, for detached runs (whose store
        outlives ``kedro run``), the user's own directory under the temp dir.
        """
        if config.runner.handoff is not None:
            return config.runner.handoff.rstrip("/")
        if config.runner.submit == "detached":
            return str(detached_handoff_root())
        return tempfile.mkdtemp(prefix="kedro-dagster-handoff-")

    def _build_spec(
        self,
        pipeline: Pipeline,
        catalog: CatalogProtocol,
        config: ResolvedConfig,
        driver: DriverContext | None,
        run_id: str,
        handoff_root: str | None,
    ) -> RunSpec:
        nodes = pipeline.nodes
        op_names = unique_op_names(node.name for node in nodes)
        pipeline_names = (driver.pipeline_names if driver else None) or ["__default__"]
        project = None
        if driver is not None:
            project = ProjectSpec(
                project_path=driver.project_path,
                package_name=driver.package_name,
                env=driver.env,
                conf_source=driver.conf_source,
                runtime_params=driver.runtime_params,
                pipeline_names=driver.pipeline_names,
                load_versions=driver.load_versions,
            )
        handoff_uri = None
        handoff_datasets: list[str] = []
        if handoff_root is not None:
            handoff_uri = f"{handoff_root}/{run_id}-{uuid.uuid4().hex[:8]}"
            handoff_datasets = sorted(
                name for name in pipeline.datasets() if needs_handoff(name, catalog)
            )
        effective_env = None  # what the config loader uses: --env, else its default run env
        if driver is not None:
            effective_env = driver.env or getattr(driver.config_loader, "default_run_env", None)
        tags = run_tags(
            run_id,
            effective_env,
            pipeline_names,
            config.runner.submit,
            driver.run_params if driver else None,
            driver.project_path if driver else None,
        )
        mlflow_run_id, mlflow_tracking_uri = driver_run()
        unfollowed = config.runner.submit == "detached" and not config.runner.wait
        run_cleans_up = config.executor.kind in OWN_EXECUTOR_KINDS  # see KedroStepExecutor
        return RunSpec(
            run_id=run_id,
            job_name=job_name_for(pipeline_names),
            nodes=[
                NodeSpec(
                    name=node.name,
                    op_name=op_names[node.name],
                    inputs=list(node.inputs),
                    outputs=list(node.outputs),
                    tags=sorted(node.tags),
                )
                for node in nodes
            ],
            executor_kind=config.executor.kind,
            executor_options=masked_options(config.executor.options),
            handoff_uri=handoff_uri,
            handoff_datasets=handoff_datasets,
            persisted_datasets=sorted(
                name
                for name in pipeline.datasets()
                if not is_parameter(name) and not needs_handoff(name, catalog)
            ),
            project=project,
            is_async=self._is_async,
            tags=tags,
            handoff_owned_by_run=unfollowed and run_cleans_up,
            # Without a driver to end it, only the package's executors can end the MLflow run.
            mlflow_run_id=mlflow_run_id if run_cleans_up or not unfollowed else None,
            mlflow_tracking_uri=mlflow_tracking_uri,
        )

    @staticmethod
    def _consumers(pipeline: Pipeline, dataset: str) -> list[str]:
        return sorted(node.name for node in pipeline.nodes if dataset in node.inputs)

    def _check_cross_process_data(
        self, pipeline: Pipeline, catalog: CatalogProtocol, spec: RunSpec, store: HandoffStore
    ) -> None:
        """Fail before the run when data cannot cross processes, naming dataset and nodes.

        Single-process datasets (``_SINGLE_PROCESS``) are refused; in-memory pipeline inputs are
        written to the handoff store now, so unpicklable ones are caught before any node runs.
        """
        for name in sorted(pipeline.datasets()):
            if name in catalog and getattr(catalog.get(name), "_SINGLE_PROCESS", False):
                raise UnpicklableDataError(
                    f"Dataset '{name}' (used by nodes {self._consumers(pipeline, name)}) is a "
                    f"single-process dataset and cannot be used with the "
                    f"'{spec.executor_kind}' executor; use in_process."
                )
        for name in sorted(pipeline.inputs() & set(spec.handoff_datasets)):
            try:
                store.save(name, catalog.load(name))
            except UnpicklableDataError as exc:
                raise UnpicklableDataError(
                    f"{exc} It is an input of nodes {self._consumers(pipeline, name)}."
                ) from exc.__cause__

    def _execute(
        self,
        pipeline: Pipeline,
        catalog: CatalogProtocol,
        hook_manager: PluginManager | None,
        spec: RunSpec,
        config: ResolvedConfig,
        store: HandoffStore | None,
    ) -> None:
        from dagster._core.execution.api import execute_run_iterator

        from kedro_dagster_runner.executors import (
            delete_step_jobs,
            k8s_run_launcher_config,
            needs_persistent_instance,
            remove_step_containers,
        )
        from kedro_dagster_runner.instance import open_instance
        from kedro_dagster_runner.job import reconstructable_job
        from kedro_dagster_runner.progress import RunProgress
        from kedro_dagster_runner.step_executor import register_driver_options
        from kedro_dagster_runner.worker import NodeRuntime, register_live, unregister_live

        nodes_by_name = {node.name: node for node in pipeline.nodes}
        register_driver_options(spec.run_id, config.executor.options)
        live = store is None
        if live:
            register_live(
                spec.run_id,
                NodeRuntime(nodes=nodes_by_name, catalog=catalog, hook_manager=hook_manager),
            )
        releaser = _DatasetReleaser(pipeline, catalog)
        recon = reconstructable_job(spec)
        log_level = _DAGSTER_LOG_LEVELS[config.runner.dagster_logs]
        run_config = self._run_config(spec, config)
        runtime = None
        try:
            launcher = (
                k8s_run_launcher_config(config.executor.options)
                if spec.executor_kind == "k8s"
                else None
            )
            with open_instance(
                config.runner.instance,
                needs_persistent_instance(spec.executor_kind),
                log_level,
                run_launcher=launcher,
            ) as instance:
                dagster_run = instance.create_run_for_job(
                    job_def=recon.get_definition(),
                    run_config=run_config,
                    tags=spec.tags,
                    job_code_origin=recon.get_python_origin(),
                )
                self._announce(config, dagster_run.run_id)
                progress = RunProgress.for_run(spec, self._logger, config.runner.progress)
                run_failure: str | None = None
                with progress:
                    for event in execute_run_iterator(recon, dagster_run, instance):
                        before = len(progress.done)
                        progress.handle(event)
                        if live and len(progress.done) > before:
                            node = nodes_by_name[progress.done[-1]]
                            releaser.node_done(node)
                        if event.event_type_value in {"RUN_FAILURE", "PIPELINE_FAILURE"}:
                            run_failure = event.message
                status = instance.get_run_by_id(dagster_run.run_id).status.value
        finally:
            if live:
                runtime = unregister_live(spec.run_id)
            if spec.executor_kind == "docker":
                remove_step_containers(spec.run_id)
            elif spec.executor_kind == "k8s":
                delete_step_jobs(config.executor.options, spec.run_id)
        if progress.failed or status != "SUCCESS":
            done_nodes = [nodes_by_name[name] for name in progress.done]
            self._suggest_resume_scenario(pipeline, done_nodes, catalog)
            raise self._failure(spec, progress, runtime, store, run_failure, status)
        if store is not None:
            self._return_free_outputs(pipeline, catalog, spec, store)

    @staticmethod
    def _password_env(config: ResolvedConfig) -> list[str]:
        """The instance's password variable, which run and step containers get by name."""
        from kedro_dagster_runner.config import InstanceSettings

        setting = config.runner.instance
        return [setting.postgres.password_env] if isinstance(setting, InstanceSettings) else []

    def _run_config(self, spec: RunSpec, config: ResolvedConfig) -> dict[str, Any]:
        """The Dagster run config: the executor's section and the console log level."""
        from kedro_dagster_runner.executors import executor_run_config

        log_level = _DAGSTER_LOG_LEVELS[config.runner.dagster_logs]
        executor_config = executor_run_config(
            spec.executor_kind, config.executor.options, spec, self._password_env(config)
        )
        if spec.executor_kind == "docker" and config.launcher and config.launcher.kind == "docker":
            # dagster-docker appends the launcher's networks to the executor's: "host" twice
            # would make it connect step containers to the host network a second time.
            executor_config.pop("networks", None)
        return {
            "execution": {"config": executor_config},
            "loggers": {"console": {"config": {"log_level": log_level}}},
        }

    def _submit(
        self,
        pipeline: Pipeline,
        catalog: CatalogProtocol,
        spec: RunSpec,
        config: ResolvedConfig,
        store: HandoffStore | None,
    ) -> None:
        """Launch the run through the instance's run launcher; with ``wait``, follow it."""
        from kedro_dagster_runner.instance import open_instance
        from kedro_dagster_runner.job import reconstructable_job
        from kedro_dagster_runner.progress import RunProgress
        from kedro_dagster_runner.submission import (
            check_run_launcher,
            follow_run,
            launch,
            launcher_section,
        )

        recon = reconstructable_job(spec)
        log_level = _DAGSTER_LOG_LEVELS[config.runner.dagster_logs]
        section = launcher_section(config, spec, self._password_env(config))
        followed = None
        try:
            with open_instance(
                config.runner.instance, True, log_level, run_launcher=section
            ) as instance:
                check_run_launcher(instance)
                dagster_run = instance.create_run_for_job(
                    job_def=recon.get_definition(),
                    run_config=self._run_config(spec, config),
                    tags=spec.tags,
                    job_code_origin=recon.get_python_origin(),
                )
                try:
                    launch(instance, dagster_run.run_id)
                except DagsterRunnerError:
                    self._remove_run_workers(config, spec)  # e.g. created but never started
                    raise
                self._run_in_flight = True
                self._announce(config, dagster_run.run_id, always=True)
                if not config.runner.wait:
                    self._logger.info(
                        "Dagster run %s goes on in %s; kedro run returns without waiting "
                        "(runner.wait: true follows it)",
                        dagster_run.run_id,
                        type(instance.run_launcher).__name__,
                    )
                    return
                progress = RunProgress.for_run(spec, self._logger, config.runner.progress)
                with progress:
                    try:
                        followed = follow_run(
                            instance, dagster_run.run_id, progress.handle, self._logger
                        )
                        self._run_in_flight = False
                    except KeyboardInterrupt:
                        self._logger.warning(
                            "Stopped following Dagster run %s; it goes on (terminate it from "
                            "the Dagster UI).",
                            dagster_run.run_id,
                        )
                        raise
        finally:
            if followed is not None:
                self._remove_run_workers(config, spec)
        if progress.failed or followed.status != "SUCCESS":
            done = set(progress.done)
            done_nodes = [node for node in pipeline.nodes if node.name in done]
            self._suggest_resume_scenario(pipeline, done_nodes, catalog)
            raise self._failure(
                spec, progress, None, store, followed.failure_message, followed.status
            )
        if store is not None:
            self._return_free_outputs(pipeline, catalog, spec, store)

    def _remove_run_workers(self, config: ResolvedConfig, spec: RunSpec) -> None:
        """Delete the run's run worker and step containers or Jobs (after a followed run or a
        failed launch); a failure to do so is logged, never raised over the run's outcome."""
        from kedro_dagster_runner.executors import delete_step_jobs, remove_step_containers

        for choice in (config.launcher, config.executor):
            try:
                if choice is not None and choice.kind == "docker":
                    remove_step_containers(spec.run_id)
                elif choice is not None and choice.kind == "k8s":
                    delete_step_jobs(choice.options, spec.run_id)
            except Exception as error:
                self._logger.warning(
                    "Could not delete the containers or Jobs of run %s: %s", spec.run_id, error
                )

    def _announce(self, config: ResolvedConfig, dagster_run_id: str, always: bool = False) -> None:
        """Log the Dagster run id, and its UI link when a webserver URL is configured."""
        from kedro_dagster_runner.config import InstanceSettings

        setting = config.runner.instance
        url = setting.postgres.webserver_url if isinstance(setting, InstanceSettings) else None
        if url:
            self._logger.info("Dagster run: %s/runs/%s", url.rstrip("/"), dagster_run_id)
        else:
            self._logger.log(
                logging.INFO if always else logging.DEBUG, "Dagster run id: %s", dagster_run_id
            )

    def _failure(
        self,
        spec: RunSpec,
        progress: RunProgress,
        runtime: Any,
        store: HandoffStore | None,
        run_failure: str | None,
        status: str,
    ) -> DagsterRunnerError:
        """The exception ``kedro run`` ends with: the first failed node and its original error."""
        if not progress.failed:
            details = list(progress.engine_errors)
            if progress.unfinished():
                details.append(f"Nodes still running then: {', '.join(progress.unfinished())}")
            return DagsterRunnerError(
                "\n".join(
                    [
                        f"Dagster run of job '{spec.job_name}' ended with status {status}: "
                        f"{run_failure or 'no node failed'}",
                        *details,
                    ]
                )
            )
        op_name = progress.failed[0]
        node = spec.node_by_op[op_name]
        original: BaseException | None = None
        detail = ""
        if runtime is not None:
            original = runtime.failures.get(op_name)
        elif store is not None and (record := store.failure(op_name)) is not None:
            original = record.exception or RemoteNodeError(record.exception_class, record.message)
            detail = (
                f"\nThe node ran in process {record.pid} on {record.host}; its traceback:\n"
                f"{record.traceback}"
            )
        if original is None:
            original = RemoteNodeError("UnknownError", progress.errors.get(op_name, "unknown"))
        message = f"Node '{node.name}' failed: {type(original).__name__}: {original}{detail}"
        others = [spec.node_by_op[op].name for op in progress.failed[1:]]
        if others:
            message += f"\nThese nodes failed too: {', '.join(others)}"
        error = NodeFailedError(node.name, message, original)
        error.__cause__ = original
        return error

    def _return_free_outputs(
        self, pipeline: Pipeline, catalog: CatalogProtocol, spec: RunSpec, store: HandoffStore
    ) -> None:
        """Put in-memory free outputs, produced in workers, back into the driver's catalog."""
        for name in sorted(pipeline.outputs() & set(spec.handoff_datasets)):
            data = store.load(name)
            if name in catalog:
                catalog.save(name, data)
            else:
                catalog[name] = data
