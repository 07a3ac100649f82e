"""Running one Kedro node inside a Dagster step, in whatever process the executor chose.

Two sources of the Kedro objects a node needs (node, catalog, hook manager):

* **live**: the step runs in the ``kedro run`` process itself (in_process executor). The driver
  registers its own pipeline, catalog and hook manager under the run id with :func:`register_live`,
  so memory datasets stay in memory and hooks fire on the session's hook manager.
* **rebuilt**: any other process. The Kedro context is rebuilt once per process and run from the
  run spec (bootstrap_project -> KedroSession.create -> load_context -> catalog with the driver's
  run id as save version) and cached; memory datasets are swapped for handoff datasets.

Either way the node runs through Kedro's own :class:`kedro.runner.Task`, so ``before_node_run``,
``after_node_run``, ``on_node_error`` and the dataset hooks fire in the process running the node.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro_dagster_runner.assets import node_asset_metadata
from kedro_dagster_runner.errors import DagsterRunnerError
from kedro_dagster_runner.handoff import HandoffDataset, HandoffStore
from kedro_dagster_runner.spec import NodeSpec, RunSpec

if TYPE_CHECKING:
    from kedro.pipeline.node import Node


AssetMetadata = tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]


@dataclass
class NodeRuntime:
    """The Kedro objects nodes of one run use in one process."""

    nodes: dict[str, Node]
    catalog: Any
    hook_manager: Any
    failures: dict[str, BaseException] = field(default_factory=dict)
    live: bool = False


_LIVE_RUNS: dict[str, NodeRuntime] = {}
_REBUILT: dict[str, NodeRuntime] = {}
_REBUILD_LOCK = threading.Lock()


def register_live(run_id: str, runtime: NodeRuntime) -> None:
    """Make the driver's own objects available to steps running in this process."""
    runtime.live = True
    _LIVE_RUNS[run_id] = runtime


def unregister_live(run_id: str) -> NodeRuntime | None:
    """Forget a live run (at the end of the run); returns it with any recorded failures."""
    return _LIVE_RUNS.pop(run_id, None)


def runtime_for(spec: RunSpec) -> NodeRuntime:
    """Return the live runtime of ``spec.run_id`` or the process's cached rebuilt one."""
    live = _LIVE_RUNS.get(spec.run_id)
    if live is not None:
        return live
    with _REBUILD_LOCK:
        runtime = _REBUILT.get(spec.run_id)
        if runtime is None:
            runtime = _rebuild(spec)
            _REBUILT.clear()  # a process serves one run at a time; drop older contexts
            _REBUILT[spec.run_id] = runtime
        return runtime


def _rebuild(spec: RunSpec) -> NodeRuntime:
    """Rebuild the driver's Kedro context in this process."""
    project = spec.project
    if project is None:
        raise DagsterRunnerError(
            f"Run {spec.run_id} has no Kedro project to rebuild in worker process {os.getpid()}: "
            "a multi-process executor needs a run started by a KedroSession (kedro run)."
        )
    os.environ["KEDRO_DISABLE_TELEMETRY"] = "true"
    os.environ["DO_NOT_TRACK"] = "1"

    from kedro.framework.project import pipelines
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(Path(project.project_path))
    session = KedroSession.create(
        project_path=project.project_path,
        env=project.env,
        runtime_params=project.runtime_params or None,
        conf_source=project.conf_source,
    )
    if hasattr(pipelines, "set_requested"):
        pipelines.set_requested(project.pipeline_names or None)
    context = session.load_context()
    catalog = context._get_catalog(
        save_version=spec.run_id, load_versions=project.load_versions or None
    )
    if spec.handoff_uri:
        store = HandoffStore(spec.handoff_uri)
        for name in spec.handoff_datasets:
            catalog[name] = HandoffDataset(store, name)
    return NodeRuntime(
        nodes=_find_nodes(spec, project.pipeline_names, pipelines),
        catalog=catalog,
        hook_manager=session._hook_manager,
    )


def _find_nodes(spec: RunSpec, pipeline_names: list[str] | None, registry: Any) -> dict[str, Node]:
    from kedro.pipeline import Pipeline

    combined = Pipeline([])
    for name in pipeline_names or ["__default__"]:
        combined += registry[name]
    wanted = {node.name for node in spec.nodes}
    found = {node.name: node for node in combined.nodes if node.name in wanted}
    missing = sorted(wanted - set(found))
    if missing:
        raise DagsterRunnerError(
            f"Nodes {missing} are not in the project's registered pipeline(s) "
            f"{pipeline_names or ['__default__']}, so worker process {os.getpid()} cannot run them."
        )
    return found


def run_node(spec: RunSpec, node_spec: NodeSpec) -> AssetMetadata:
    """Run one node with Kedro's ``Task``; record the exception for the driver if it raises.

    Returns the metadata of the persisted datasets the node wrote and read (for asset events).
    """
    from kedro.runner.task import Task

    from kedro_dagster_runner.mlflow_bridge import attached

    runtime = runtime_for(spec)
    node = runtime.nodes[node_spec.name]
    # The driver's thread already has its MLflow run; other processes join it per node.
    mlflow_run_id = None if runtime.live else spec.mlflow_run_id
    try:
        with attached(mlflow_run_id, spec.mlflow_tracking_uri):
            Task(
                node=node,
                catalog=runtime.catalog,
                hook_manager=runtime.hook_manager,
                is_async=spec.is_async,
                run_id=spec.run_id,
            ).execute()
    except Exception as error:
        if runtime.live:
            runtime.failures[node_spec.op_name] = error
        elif spec.handoff_uri:
            HandoffStore(spec.handoff_uri).record_failure(node_spec.op_name, error)
        raise
    return node_asset_metadata(
        runtime.catalog, node_spec.inputs, node_spec.outputs, set(spec.persisted_datasets)
    )
