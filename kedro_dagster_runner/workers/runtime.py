"""The Kedro objects a node needs (node, catalog, hook manager), in whatever process runs it.

Two sources:

* **live**: the node runs in the ``kedro run`` process itself. The driver puts its own nodes,
  catalog and hook manager in the run's :class:`~kedro_dagster_runner.workers.store.LiveStore`,
  so memory datasets stay in memory and hooks fire on the session's hook manager.
* **rebuilt**: any other process. The Kedro context is rebuilt once per process and run from the
  run spec (bootstrap_project -> the project's ``SESSION_CLASS`` -> load_context -> a catalog of
  its ``DATA_CATALOG_CLASS`` with the driver's run id as save version, ``--params`` and load
  versions read from the run's store) and cached; memory datasets are swapped for handoff
  datasets, keeping their declared validators.
* **shipped**: a run started from plain Python, without a project: the driver pickled its nodes
  and catalog into the run's store (as Kedro's ParallelRunner pickles them into its workers);
  the worker unpacks them and builds ParallelRunner's hook manager.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro_dagster_runner import _compat
from kedro_dagster_runner.errors import ProjectError
from kedro_dagster_runner.spec import ProjectSpec, RunSpec
from kedro_dagster_runner.workers.handoff import HandoffDataset
from kedro_dagster_runner.workers.run_end import guard_saves
from kedro_dagster_runner.workers.store import live_store, open_store

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kedro.framework.context import KedroContext
    from kedro.framework.session.abstract_session import AbstractSession
    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline
    from kedro.pipeline.node import Node
    from pluggy import PluginManager


@dataclass
class NodeRuntime:
    """The Kedro objects nodes of one run use in one process."""

    nodes: dict[str, Node]
    catalog: CatalogProtocol
    hook_manager: PluginManager
    live: bool = False


_REBUILT: dict[tuple[str, str | None], NodeRuntime] = {}
_REBUILD_LOCK = threading.Lock()


@lru_cache(maxsize=8)
def spec_at(store_uri: str) -> RunSpec:
    """The run spec published in the store at ``store_uri`` (read once per process)."""
    return RunSpec.from_json(open_store(store_uri).read_spec())


def runtime_for(spec: RunSpec) -> NodeRuntime:
    """The live runtime of the run, or this process's cached rebuilt one."""
    live = live_store(spec.handoff_uri) if spec.handoff_uri else None
    if live is not None and live.runtime is not None:
        return live.runtime
    with _REBUILD_LOCK:
        # Keyed by the store too: two runs of long-lived dask/Celery workers can share a Kedro run
        # id (a millisecond timestamp), never a store.
        key = (spec.run_id, spec.handoff_uri)
        runtime = _REBUILT.get(key)
        if runtime is None:
            runtime = _rebuild(spec)
            _REBUILT.clear()  # a process serves one run at a time; drop older contexts
            _REBUILT[key] = runtime
        return runtime


RUN_INPUTS_KEY = "run_inputs"
SHIPPED_KEY = "shipped"


@dataclass(frozen=True)
class RunInputs:
    """What the session gave the run that may not be JSON or may be secret: ``--params`` (any
    Python value from ``KedroSession.create(runtime_params=...)``) and load versions. Kept in the
    run's store apart from the spec (:meth:`RunStore.write_private`), never in Dagster's records."""

    runtime_params: dict[str, Any] = field(default_factory=dict)
    load_versions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ShippedRun:
    """A run started without a Kedro project (``runner.run(pipeline, catalog)`` from plain
    Python): its nodes and catalog travel to workers pickled, as Kedro's ParallelRunner sends
    them, instead of being rebuilt from the project.

    Attributes:
        nodes: The run's nodes by name.
        catalog: The driver's catalog.
        package_name: The project package the driver configured, if any (a worker configures
            it too, as ParallelRunner's spawned workers do).
        hooks: The driver's ``settings.HOOKS`` (ParallelRunner's forked workers inherit them);
            ``None`` when they do not pickle, and then the worker's own settings apply.
    """

    nodes: dict[str, Node]
    catalog: CatalogProtocol
    package_name: str | None = None
    hooks: tuple[object, ...] | None = None


def _rebuild(spec: RunSpec) -> NodeRuntime:
    """Rebuild the driver's Kedro context in this process (or unpack a shipped run)."""
    os.environ["KEDRO_DISABLE_TELEMETRY"] = "true"
    os.environ["DO_NOT_TRACK"] = "1"
    store = open_store(spec.handoff_uri) if spec.handoff_uri else None
    shipped = store.read_private(SHIPPED_KEY) if store is not None else None
    if isinstance(shipped, ShippedRun):
        runtime = NodeRuntime(shipped.nodes, shipped.catalog, _parallel_hook_manager(shipped))
    elif spec.project is not None:
        stored = store.read_private(RUN_INPUTS_KEY) if store is not None else None
        inputs = stored if isinstance(stored, RunInputs) else RunInputs()
        runtime = _rebuild_project(spec, spec.project, inputs)
    else:
        raise ProjectError(
            f"Run {spec.run_id} has neither a Kedro project nor a shipped pipeline to run in "
            f"worker process {os.getpid()} (its run store {spec.handoff_uri} holds neither)."
        )
    if store is not None:
        for name in spec.handoff_datasets:
            original = runtime.catalog.get(name) if name in runtime.catalog else None
            handoff = HandoffDataset(store, name, original)
            _compat.replace_dataset(runtime.catalog, name, handoff)
        for name in spec.in_step_datasets:  # kept in memory by the group that uses them
            runtime.catalog.get(name, fallback_to_runtime_pattern=True)  # as Kedro's runners
        guard_saves(runtime.hook_manager, store)
    return runtime


def _parallel_hook_manager(shipped: ShippedRun) -> PluginManager:
    """The hook manager Kedro's ParallelRunner gives a node in a worker: the settings' hooks (the
    driver's, as a forked worker has them) and the installed plugins'. A plain-Python caller's
    own hook manager stays in the caller's process, as under ParallelRunner."""
    from kedro.framework.project import PACKAGE_NAME, configure_project, settings

    if shipped.package_name and shipped.package_name != PACKAGE_NAME:
        configure_project(shipped.package_name)
    hooks = shipped.hooks if shipped.hooks is not None else settings.HOOKS
    return _compat.worker_hook_manager(hooks)


def open_project(
    spec: RunSpec, project: ProjectSpec, inputs: RunInputs
) -> tuple[AbstractSession, KedroContext, CatalogProtocol]:
    """bootstrap_project -> the project's session class -> context -> catalog, as the driver's
    ``KedroSession.run`` built them, with the run's id as save version."""
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(Path(project.project_path))
    session, context = _compat.open_project_session(
        _compat.project_session_class(),
        project.project_path,
        project.env,
        project.conf_source,
        inputs.runtime_params,
        project.pipeline_names,
    )
    catalog = _compat.build_catalog(
        context, spec.run_id, inputs.load_versions, project.pipeline_names
    )
    return session, context, catalog


def _rebuild_project(spec: RunSpec, project: ProjectSpec, inputs: RunInputs) -> NodeRuntime:
    """The project rebuilt in this process (:func:`open_project`) and the spec's nodes."""
    from kedro.framework.project import pipelines

    session, _, catalog = open_project(spec, project, inputs)
    return NodeRuntime(
        nodes=find_nodes(spec, project.pipeline_names, pipelines),
        catalog=catalog,
        hook_manager=_compat.session_hook_manager(session),
    )


def find_nodes(
    spec: RunSpec, pipeline_names: list[str] | None, registry: Mapping[str, Pipeline]
) -> dict[str, Node]:
    """The nodes of ``spec`` in the project's registered pipelines ``pipeline_names``.

    Raises:
        ProjectError: A node of the spec is in none of them.
    """
    from kedro.pipeline import Pipeline

    combined = Pipeline([])
    for name in pipeline_names or ["__default__"]:
        combined += registry[name]
    wanted = {name for node in spec.nodes for name in node.node_names}
    found = {node.name: node for node in combined.nodes if node.name in wanted}
    missing = sorted(wanted - set(found))
    if missing:
        raise ProjectError(
            f"Nodes {missing} are not in the project's registered pipeline(s) "
            f"{pipeline_names or ['__default__']}, so worker process {os.getpid()} cannot run them."
        )
    return found
