"""The Kedro objects a node needs (node, catalog, hook manager), in whatever process runs it.

Two sources:

* **live**: the node runs in the ``kedro run`` process itself. The driver puts its own nodes,
  catalog and hook manager in the run's :class:`~kedro_dagster_runner.workers.store.LiveStore`,
  so memory datasets stay in memory and hooks fire on the session's hook manager.
* **rebuilt**: any other process. The Kedro context is rebuilt once per process and run from the
  run spec (bootstrap_project -> KedroSession.create -> load_context -> catalog with the driver's
  run id as save version) and cached; memory datasets are swapped for handoff datasets.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from kedro_dagster_runner import _compat
from kedro_dagster_runner.errors import ProjectError
from kedro_dagster_runner.spec import RunSpec
from kedro_dagster_runner.workers.handoff import HandoffDataset
from kedro_dagster_runner.workers.store import live_store, open_store

if TYPE_CHECKING:
    from collections.abc import Mapping

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


_REBUILT: dict[str, NodeRuntime] = {}
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
        raise ProjectError(
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
    catalog = _compat.build_catalog(context, spec.run_id, project.load_versions)
    if spec.handoff_uri and spec.handoff_datasets:
        store = open_store(spec.handoff_uri)
        for name in spec.handoff_datasets:
            catalog[name] = HandoffDataset(store, name)
    return NodeRuntime(
        nodes=_find_nodes(spec, project.pipeline_names, pipelines),
        catalog=catalog,
        hook_manager=_compat.session_hook_manager(session),
    )


def _find_nodes(
    spec: RunSpec, pipeline_names: list[str] | None, registry: Mapping[str, Pipeline]
) -> dict[str, Node]:
    from kedro.pipeline import Pipeline

    combined = Pipeline([])
    for name in pipeline_names or ["__default__"]:
        combined += registry[name]
    wanted = {node.name for node in spec.nodes}
    found = {node.name: node for node in combined.nodes if node.name in wanted}
    missing = sorted(wanted - set(found))
    if missing:
        raise ProjectError(
            f"Nodes {missing} are not in the project's registered pipeline(s) "
            f"{pipeline_names or ['__default__']}, so worker process {os.getpid()} cannot run them."
        )
    return found
