"""From Kedro's pipeline and catalog to a planned run: the run spec and the run's store.

:func:`plan_run` decides where the run's store lives (the driver's memory when every node runs
in the driver, a run-scoped folder otherwise), which datasets cross processes through it and
what the spec says; :meth:`RunPlan.publish` writes the spec there and checks, before any node
runs, that the data which must cross processes can.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import cached_property
from typing import TYPE_CHECKING

from kedro_dagster_runner import _compat, leftovers
from kedro_dagster_runner.deploy.instance import instance_env_names
from kedro_dagster_runner.driver.tags import run_tags
from kedro_dagster_runner.errors import DagsterRunnerError, UnpicklableDataError
from kedro_dagster_runner.executors import NodesRun, kind_named
from kedro_dagster_runner.grouping import (
    MEMORY_CHAINS,
    NONE,
    group_ops,
    refuse_retried_versioned_groups,
)
from kedro_dagster_runner.mlflow_bridge import driver_run
from kedro_dagster_runner.naming import dagster_name, job_name_for
from kedro_dagster_runner.partitions.fanout import node_specs, parse_selection, plan_fan_out
from kedro_dagster_runner.spec import NodeSpec, ProjectSpec, RunSpec
from kedro_dagster_runner.workers.handoff import (
    detached_handoff_root,
    local_handoff_parent,
    needs_handoff,
    persisted_datasets,
)
from kedro_dagster_runner.workers.runtime import (
    RUN_INPUTS_KEY,
    SHIPPED_KEY,
    NodeRuntime,
    RunInputs,
    ShippedRun,
)
from kedro_dagster_runner.workers.store import DirectoryStore, RunStore, create_live_store

if TYPE_CHECKING:
    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline
    from pluggy import PluginManager

    from kedro_dagster_runner.config import ResolvedConfig
    from kedro_dagster_runner.driver.session_capture import DriverContext


@dataclass
class RunPlan:
    """One planned run: its spec and its store.

    Attributes:
        spec: The run spec.
        store: The run's store (live in the driver, or a folder).
        temporary_root: A temp dir made for the store, removed with it (``None`` when the store
            is in memory or under ``runner.handoff`` / the detached runs' root).
        in_driver: True when every node runs in the ``kedro run`` process.
        inputs: The session's ``--params`` and load versions, for workers (kept in the store
            apart from the spec).
        shipped: True when nodes run in other processes but there is no project to rebuild
            (plain Python): the nodes and the catalog are pickled into the store.
        outlives_driver: A detached run: its store may be read after ``kedro run`` ends.
    """

    spec: RunSpec
    store: RunStore
    temporary_root: str | None
    in_driver: bool
    inputs: RunInputs
    shipped: bool = False
    outlives_driver: bool = False

    def publish(self, pipeline: Pipeline, catalog: CatalogProtocol) -> None:
        """Write the spec to the store and, for nodes in other processes, what workers read
        besides it (the run's inputs, in-memory pipeline inputs, a shipped pipeline), failing
        before any node runs when something cannot cross processes."""
        self.store.write_spec(self.spec.to_json())
        if self.in_driver:
            return
        local_root = self.store.local_root if isinstance(self.store, DirectoryStore) else None
        if local_root is not None and not self.outlives_driver:
            leftovers.claim(local_root)  # removed by a later run if this process dies
        self.store.write_private(RUN_INPUTS_KEY, self.inputs)
        if self.shipped:  # workers get these objects: Kedro's ParallelRunner checks first
            _compat.check_parallel_nodes(pipeline.nodes)
            _compat.check_parallel_catalog(catalog)
        for name in sorted(pipeline.inputs() & set(self.spec.handoff_datasets)):
            try:
                self.store.save(name, catalog.load(name))
            except UnpicklableDataError as exc:
                raise UnpicklableDataError(
                    f"{exc} It is an input of nodes {_consumers(pipeline, name)}."
                ) from exc.__cause__
        if self.shipped:
            self.store.write_private(SHIPPED_KEY, _shipped_run(pipeline, catalog))

    def discard_handoff(self, name: str) -> None:
        """Delete the handoff data of ``name`` (released: no pending node reads it)."""
        if name in self._handoff:
            self.store.discard(name)

    @cached_property
    def _handoff(self) -> frozenset[str]:
        return frozenset(self.spec.handoff_datasets)

    def return_free_outputs(self, pipeline: Pipeline, catalog: CatalogProtocol) -> None:
        """Put in-memory free outputs, produced in workers, back into the driver's catalog."""
        for name in sorted(pipeline.outputs() & set(self.spec.handoff_datasets)):
            data = self.store.load(name)
            if name in catalog:
                catalog.save(name, data)
            else:
                catalog[name] = data

    @contextmanager
    def lifetime(self, in_flight: Callable[[], bool], logger: logging.Logger) -> Iterator[None]:
        """Remove the store after the ``with`` block, unless ``in_flight()``: a detached run that
        goes on reads it (and removes it itself when nobody follows it)."""
        try:
            yield
        finally:
            if not in_flight():
                self.store.remove()
                if self.temporary_root is not None:
                    shutil.rmtree(self.temporary_root, ignore_errors=True)
            elif not self.spec.handoff_owned_by_run:
                logger.warning(
                    "The run's handoff data stays in %s (remove it once the run has ended)",
                    self.store.uri,
                )


def _shipped_run(pipeline: Pipeline, catalog: CatalogProtocol) -> ShippedRun:
    """What workers of a plain-Python run get: ParallelRunner's forked workers inherit the
    driver's configured project and ``settings.HOOKS``; they are sent along instead."""
    import cloudpickle
    from kedro.framework.project import PACKAGE_NAME, settings

    hooks: tuple[object, ...] | None = tuple(settings.HOOKS)
    try:
        cloudpickle.dumps(hooks)
    except Exception:  # hook objects holding connections, locks...: the worker's settings
        hooks = None
    nodes = {node.name: node for node in pipeline.nodes}
    return ShippedRun(nodes, catalog, PACKAGE_NAME, hooks)


def _consumers(pipeline: Pipeline, dataset: str) -> list[str]:
    return sorted(node.name for node in pipeline.nodes if dataset in node.inputs)


def plan_run(
    pipeline: Pipeline,
    catalog: CatalogProtocol,
    hook_manager: PluginManager | None,
    config: ResolvedConfig,
    driver: DriverContext | None,
    run_id: str,
    is_async: bool,
    nodes: list[NodeSpec] | None = None,
) -> RunPlan:
    """Plan the run of ``pipeline`` on the configured executor.

    ``nodes`` are the run's ops when they are given (a launched run: the job's own ops, its
    partitioned ones set to the run's partition); by default one op per node, or per partition
    of a node fanned out over partitions (``runner.partitions`` selects the keys), then grouped
    as ``runner.group_nodes`` says (:mod:`kedro_dagster_runner.grouping`).

    Raises:
        DagsterRunnerError: There is no Kedro session (a plain-Python run) and the run is
            detached or its kind's workers must rebuild a project (containers, pods).
        GroupingError: The nodes cannot be grouped as asked (before any node runs).
    """
    kind = kind_named(config.executor.kind)
    in_driver = kind.nodes_run is NodesRun.DRIVER and not config.runner.detached
    shipped = not in_driver and driver is None
    if shipped and (config.runner.detached or not kind.runs_shipped_pipelines):
        where = "in a run worker" if config.runner.detached else "in containers or pods"
        raise DagsterRunnerError(
            f"Executor '{config.executor.name}' ({kind.name}) runs nodes {where}, which "
            "rebuild the Kedro project; that needs a run started through a KedroSession "
            "(`kedro run` or `KedroSession.run`). Without a project use in_process, "
            "multiprocess or dask."
        )
    temporary_root = None
    store: RunStore
    if in_driver:
        runtime = NodeRuntime(
            nodes={node.name: node for node in pipeline.nodes},
            catalog=catalog,
            hook_manager=hook_manager,  # type: ignore[arg-type]
            live=True,
        )
        store = create_live_store(run_id, runtime)
    else:
        root = config.runner.handoff.rstrip("/") if config.runner.handoff else None
        if root is None and config.runner.detached:  # the store outlives kedro run
            root = str(detached_handoff_root())
        if root is None:
            parent = local_handoff_parent() if kind.nodes_run is NodesRun.LOCAL_PROCESSES else None
            root = temporary_root = tempfile.mkdtemp(prefix="kedro-dagster-handoff-", dir=parent)
            leftovers.claim(temporary_root)  # removed by a later run if this process dies
        store = DirectoryStore(f"{root}/{run_id}-{uuid.uuid4().hex[:8]}")
    in_memory = (
        {name for name in pipeline.datasets() if needs_handoff(name, catalog)}
        if not in_driver or config.runner.group_nodes == MEMORY_CHAINS
        else set()  # nodes in the driver share its catalog: nothing crosses processes
    )
    strategy = NONE  # a launched run's ops are its job's, already grouped as the job is
    if nodes is None:
        fan_out = plan_fan_out(pipeline, catalog, parse_selection(config.runner.partitions))
        nodes = node_specs(pipeline, fan_out, catalog)
        strategy = config.runner.group_nodes
    nodes = [replace(node, **config.node_settings(node.name, node.tags)) for node in nodes]
    grouping = group_ops(nodes, pipeline, strategy, in_memory, set(pipeline.outputs()))
    if any(op.members and op.retry_policy for op in grouping.ops):
        refuse_retried_versioned_groups(grouping.ops, _versioned(pipeline, catalog))
    nodes = [
        replace(node, op_tags=kind.op_tags(config.executor.options, node)) for node in grouping.ops
    ]
    handoff_datasets = [] if in_driver else sorted(in_memory - set(grouping.in_step_datasets))
    spec = _spec(
        pipeline, catalog, config, driver, run_id, is_async, store, handoff_datasets, nodes
    )
    spec = replace(spec, in_step_datasets=grouping.in_step_datasets)
    inputs = (
        RunInputs(dict(driver.runtime_params), dict(driver.load_versions))
        if driver is not None
        else RunInputs()
    )
    return RunPlan(spec, store, temporary_root, in_driver, inputs, shipped, config.runner.detached)


def _versioned(pipeline: Pipeline, catalog: CatalogProtocol) -> set[str]:
    """The pipeline's datasets the catalog versions."""
    return {
        name
        for name in pipeline.datasets()
        if name in catalog and _compat.dataset_version(catalog.get(name)) is not None
    }


def local_handoff_roots(handoff: str | None) -> list[str]:
    """``runner.handoff`` when it is a local folder (where run stores of dead drivers are
    swept, see :func:`~kedro_dagster_runner.driver.leftovers.sweep`), else nothing."""
    if not handoff or ("://" in handoff and not handoff.startswith("file://")):
        return []
    return [handoff.removeprefix("file://")]


def _project_spec(driver: DriverContext) -> ProjectSpec:
    """How workers rebuild the driver's project: what the session was created with."""
    return ProjectSpec(
        project_path=driver.project_path,
        package_name=driver.package_name,
        env=driver.env,
        conf_source=driver.conf_source,
        pipeline_names=driver.pipeline_names,
    )


def _spec(
    pipeline: Pipeline,
    catalog: CatalogProtocol,
    config: ResolvedConfig,
    driver: DriverContext | None,
    run_id: str,
    is_async: bool,
    store: RunStore,
    handoff_datasets: list[str],
    nodes: list[NodeSpec],
) -> RunSpec:
    pipeline_names = (driver.pipeline_names if driver else None) or ["__default__"]
    tags = run_tags(
        run_id,
        driver.effective_env if driver else None,
        pipeline_names,
        config.runner.submit,
        driver.run_params if driver else None,
        driver.project_path if driver else None,
    )
    mlflow_run_id, mlflow_tracking_uri = driver_run()
    unfollowed = config.runner.detached and not config.runner.wait
    run_cleans_up = kind_named(config.executor.kind).finishes_unfollowed_runs
    if config.runner.job is not None:
        tags["kedro/job"] = config.runner.job
    if config.runner.detached:
        tags.update(config.runner.detached_run_tags())
    return RunSpec(
        run_id=run_id,
        job_name=dagster_name(config.runner.job)
        if config.runner.job
        else job_name_for(pipeline_names),
        nodes=nodes,
        executor_kind=config.executor.kind,
        handoff_uri=store.uri,
        handoff_datasets=handoff_datasets,
        persisted_datasets=persisted_datasets(pipeline, catalog),
        project=_project_spec(driver) if driver is not None else None,
        is_async=is_async,
        tags=tags,
        handoff_owned_by_run=unfollowed and run_cleans_up,
        # Without a driver to end it, only the package's executors can end the MLflow run.
        mlflow_run_id=mlflow_run_id if run_cleans_up or not unfollowed else None,
        mlflow_tracking_uri=mlflow_tracking_uri,
        on_failure=config.runner.on_failure,
        private_env_names=instance_env_names(config.runner.instance),
        loggers={name: logger.model_dump() for name, logger in config.run_loggers().items()},
    )
