"""A run launched by Dagster itself (the UI's launchpad, a re-execution, a schedule, a sensor):
its run worker plays the part ``kedro run`` plays for a run started from the terminal.

``kedro run`` opens a Kedro session, fires ``before_pipeline_run``, has the runner run the nodes
and fires ``after_pipeline_run`` or ``on_pipeline_error``. A run Dagster launches has no such
process, so the run worker does the same around the steps it executes (:class:`LaunchedRun`):
it opens a session of the project's ``SESSION_CLASS`` (its ``after_context_created`` and
``after_catalog_created`` hooks fire), builds the catalog with the run's Kedro run id as save
version, adds a ``MemoryDataset`` for every dataset the nodes use that the catalog does not
declare (as Kedro's runners do), and fires the pipeline hooks exactly once, with the nodes the
run executes as the pipeline. Nodes then run in the run worker against that catalog and hook
manager, through the run's live store (:mod:`kedro_dagster_runner.workers.store`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from kedro_dagster_runner import _compat
from kedro_dagster_runner.driver.session_capture import DriverContext
from kedro_dagster_runner.errors import ProjectError
from kedro_dagster_runner.partitions.fanout import for_run_partition
from kedro_dagster_runner.workers.handoff import persisted_datasets
from kedro_dagster_runner.workers.runtime import NodeRuntime, RunInputs, find_nodes, open_project
from kedro_dagster_runner.workers.store import create_live_store

if TYPE_CHECKING:
    from collections.abc import Iterable

    from kedro.framework.session.abstract_session import AbstractSession
    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline
    from pluggy import PluginManager

    from kedro_dagster_runner.spec import RunSpec
    from kedro_dagster_runner.workers.store import LiveStore

LAUNCHED_RUNNER = "DagsterRunner (launched by Dagster)"
"""``run_params["runner"]`` of a launched run (``kedro run`` records the runner's name there)."""


@dataclass
class LaunchedRun:
    """The Kedro side of one launched run: its session, pipeline, catalog and live store.

    Use :meth:`open`, then :meth:`started` before the first node, then exactly one of
    :meth:`succeeded` or :meth:`failed`, then :meth:`close`.
    """

    spec: RunSpec
    """The run's spec, pointed at the live store (nodes run against this run's catalog)."""
    pipeline: Pipeline
    """The nodes the run executes."""
    job_pipeline: Pipeline
    """Every node of the job (a re-execution executes some of them)."""
    catalog: CatalogProtocol
    run_params: dict[str, Any]
    driver: DriverContext
    """The session as ``kedro run``'s plugin hook would have recorded it (to plan the run on
    an executor whose nodes run in other processes)."""
    _session: AbstractSession
    _store: LiveStore
    _runtime: NodeRuntime

    @property
    def hook_manager(self) -> PluginManager:
        """The session's hook manager."""
        return self._runtime.hook_manager

    @classmethod
    def open(
        cls,
        spec: RunSpec,
        op_names: Iterable[str],
        partition_key: str | None = None,
        runtime_params: dict[str, Any] | None = None,
    ) -> LaunchedRun:
        """Open the project's session for the run of ``spec`` (its Kedro run id already
        derived) executing the steps ``op_names``, for partition ``partition_key`` of a
        partitioned job (the run's ``dagster/partition`` tag), with the Kedro runtime
        parameters the launchpad changed (as ``--params`` gives them).

        Raises:
            ProjectError: The spec has no project, or the nodes are not in its pipelines.
            PartitionError: A partitioned job's run without a key, or with an unknown one.
        """
        from kedro.framework.project import pipelines
        from kedro.pipeline import Pipeline

        project = spec.project
        if project is None:
            raise ProjectError(f"Dagster job {spec.job_name} has no Kedro project to run.")
        runtime_params = dict(runtime_params or {})
        session, context, catalog = open_project(spec, project, RunInputs(runtime_params))
        executed = {name for op in op_names for name in spec.node_by_op[op].node_names}
        every_node = find_nodes(spec, project.pipeline_names, pipelines)
        job_pipeline = Pipeline(list(every_node.values()))
        spec = for_run_partition(spec, partition_key, job_pipeline, catalog)
        spec = replace(spec, persisted_datasets=persisted_datasets(job_pipeline, catalog))
        nodes = {name: node for name, node in every_node.items() if name in executed}
        pipeline = Pipeline(list(nodes.values()))
        runtime = NodeRuntime(nodes, catalog, _compat.session_hook_manager(session), live=True)
        store = create_live_store(spec.run_id, runtime)
        run_params = _compat.session_run_params(
            run_id=spec.run_id,
            project_path=project.project_path,
            env=context.env,
            pipeline_names=project.pipeline_names or ["__default__"],
            node_names=sorted(executed),
            runner=LAUNCHED_RUNNER,
            runtime_params=runtime_params,
        )
        driver = DriverContext(
            project_path=project.project_path,
            package_name=_compat.context_package_name(context),
            env=context.env,
            conf_source=project.conf_source,
            runtime_params=runtime_params,
            config_loader=context.config_loader,
            pipeline_names=project.pipeline_names,
            run_params=run_params,
        )
        return cls(
            replace(spec, handoff_uri=store.uri),
            pipeline,
            job_pipeline,
            catalog,
            run_params,
            driver,
            session,
            store,
            runtime,
        )

    def started(self) -> None:
        """``before_pipeline_run``, as ``KedroSession.run`` fires it; then what Kedro's
        ``AbstractRunner.run`` does before the first node: every dataset of the pipeline is
        materialised (undeclared ones as ``MemoryDataset``) and the inputs must exist.

        Raises:
            ValueError: Kedro's error for inputs the catalog does not have.
        """
        self._runtime.hook_manager.hook.before_pipeline_run(
            run_params=self.run_params, pipeline=self.pipeline, catalog=self.catalog
        )
        declared = []
        for name in self.pipeline.datasets():
            if name in self.catalog:
                declared.append(name)
            self.catalog.get(name, fallback_to_runtime_pattern=True)
        unsatisfied = self.pipeline.inputs() - set(declared)
        if unsatisfied:
            raise ValueError(
                f"Pipeline input(s) {unsatisfied} not found in the "
                f"{self.catalog.__class__.__name__}"
            )

    def succeeded(self) -> None:
        """``after_pipeline_run`` with the pipeline's outputs, as Kedro's runners return them
        (datasets, not loaded)."""
        run_result = {name: self.catalog[name] for name in self.pipeline.outputs()}
        self._runtime.hook_manager.hook.after_pipeline_run(
            run_params=self.run_params,
            run_result=run_result,
            pipeline=self.pipeline,
            catalog=self.catalog,
        )

    def failed(self, error: BaseException) -> None:
        """``on_pipeline_error`` with the error that ended the run (the failed node's own)."""
        self._runtime.hook_manager.hook.on_pipeline_error(
            error=error, run_params=self.run_params, pipeline=self.pipeline, catalog=self.catalog
        )

    def close(self) -> None:
        """Drop the live store and close the session."""
        self._store.remove()
        self._session.close()
