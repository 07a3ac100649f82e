"""A Dagster code location for a Kedro project: dataset lineage as assets, a job per pipeline.

Runs made with ``kedro run --runner kedro_dagster_runner.DagsterRunner`` against a shared
instance show in the Dagster UI without any code location. This one adds what needs the project:
the asset lineage graph (one ``AssetSpec`` per persisted dataset, its dependencies being the
persisted datasets it is computed from, through any in-memory datasets in between) and one job
per registered pipeline, named like the runner's jobs (``kedro_<pipeline>``) so the UI can
re-execute a run started from ``kedro run`` (whole run, from failure, selected nodes).

Load it with the project given by environment variables::

    KEDRO_PROJECT_PATH=/path/to/project KEDRO_ENV=dev \\
        dagster-webserver -h 127.0.0.1 -m kedro_dagster_runner.code_location

(``kedro dagster-runner ui`` does exactly this). Jobs launched from the UI run every node in the
run worker process, with a Kedro run id derived from the Dagster run (so versioned datasets get a
fresh save version per run). Re-executing from a failure needs the failed nodes' inputs to be
persisted: in-memory data of the earlier run is gone.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Any

import dagster

from kedro_dagster_runner.handoff import is_parameter, needs_handoff
from kedro_dagster_runner.naming import dagster_name, job_name_for, unique_op_names
from kedro_dagster_runner.spec import DERIVED_RUN_ID, NodeSpec, ProjectSpec, RunSpec

PROJECT_PATH_ENV = "KEDRO_PROJECT_PATH"
ENV_ENV = "KEDRO_ENV"
CONF_SOURCE_ENV = "KEDRO_CONF_SOURCE"


def dataset_lineage(pipeline: Any, persisted: set[str]) -> dict[str, set[str]]:
    """Persisted dataset -> the persisted datasets it is computed from (through memory data)."""
    producer = {output: node for node in pipeline.nodes for output in node.outputs}
    resolved: dict[str, set[str]] = {}

    def sources(name: str, seen: frozenset[str]) -> set[str]:
        if is_parameter(name) or name in seen:
            return set()
        if name in persisted:
            return {name}
        if name in resolved:
            return resolved[name]
        node = producer.get(name)
        found = set().union(*(sources(i, seen | {name}) for i in node.inputs)) if node else set()
        resolved[name] = found
        return found

    lineage: dict[str, set[str]] = {}
    for node in pipeline.nodes:
        upstream = set().union(*(sources(name, frozenset()) for name in node.inputs))
        for output in node.outputs:
            if output in persisted:
                lineage[output] = lineage.get(output, set()) | upstream
    for name in pipeline.inputs():
        if name in persisted:
            lineage.setdefault(name, set())
    return lineage


def asset_specs(pipeline: Any, catalog: Any) -> list[dagster.AssetSpec]:
    """One asset per persisted dataset of ``pipeline``, with its lineage."""
    persisted = {
        name
        for name in pipeline.datasets()
        if not is_parameter(name) and not needs_handoff(name, catalog)
    }
    writers = {output: node.name for node in pipeline.nodes for output in node.outputs}
    specs = []
    for name, deps in sorted(dataset_lineage(pipeline, persisted).items()):
        dataset = catalog.get(name)
        metadata = {"kedro/dataset": name, "dataset_type": type(dataset).__name__}
        filepath = getattr(dataset, "_filepath", None)
        if filepath is not None:
            metadata["filepath"] = str(filepath)
        writer = writers.get(name)
        specs.append(
            dagster.AssetSpec(
                key=dagster.AssetKey([dagster_name(name)]),
                deps=[dagster.AssetKey([dagster_name(dep)]) for dep in sorted(deps)],
                description=f"Kedro dataset {name}"
                + (f", written by node {writer}" if writer else ", an input of the project"),
                group_name=dagster_name(name.rsplit(".", 1)[0]) if "." in name else "kedro",
                metadata=metadata,
                kinds={"kedro"},
            )
        )
    return specs


def pipeline_run_spec(name: str, pipeline: Any, project: ProjectSpec) -> RunSpec:
    """The spec of a code-location job: in-process, Kedro run id derived per Dagster run."""
    op_names = unique_op_names(node.name for node in pipeline.nodes)
    return RunSpec(
        run_id=DERIVED_RUN_ID,
        job_name=job_name_for([name]),
        nodes=[
            NodeSpec(
                node.name,
                op_names[node.name],
                list(node.inputs),
                list(node.outputs),
                sorted(node.tags),
            )
            for node in pipeline.nodes
        ],
        executor_kind="dagster_in_process",
        project=ProjectSpec(
            project_path=project.project_path,
            package_name=project.package_name,
            env=project.env,
            conf_source=project.conf_source,
            pipeline_names=[name],
        ),
        tags={"kedro/pipeline": name, "kedro/env": project.env or "", "kedro/runner": "UI"},
    )


@cache
def _load(project_path: str, env: str | None, conf_source: str | None) -> dagster.Definitions:
    from kedro.framework.project import pipelines
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project
    from kedro.pipeline import Pipeline

    from kedro_dagster_runner.job import build_job

    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
    metadata = bootstrap_project(Path(project_path))
    with KedroSession.create(project_path=project_path, env=env, conf_source=conf_source) as s:
        context = s.load_context()
        catalog = context.catalog
    project = ProjectSpec(
        project_path=str(context.project_path),
        package_name=metadata.package_name,
        env=env,
        conf_source=conf_source,
    )
    registered = {name: pipelines[name] for name in sorted(pipelines.keys())}
    everything = registered.get("__default__") or sum(registered.values(), start=Pipeline([]))
    jobs = [
        build_job(pipeline_run_spec(name, pipeline, project).to_json())
        for name, pipeline in registered.items()
        if pipeline.nodes
    ]
    return dagster.Definitions(assets=asset_specs(everything, catalog), jobs=jobs)


def build_definitions(
    project_path: str | None = None, env: str | None = None, conf_source: str | None = None
) -> dagster.Definitions:
    """The code location of the project at ``project_path`` (default: $KEDRO_PROJECT_PATH)."""
    path = project_path or os.environ.get(PROJECT_PATH_ENV)
    if not path:
        raise RuntimeError(
            f"Set {PROJECT_PATH_ENV} to the Kedro project the code location should load "
            "(and KEDRO_ENV for its environment), or use `kedro dagster-runner ui`."
        )
    return _load(
        str(Path(path).resolve()),
        env or os.environ.get(ENV_ENV),
        conf_source or os.environ.get(CONF_SOURCE_ENV),
    )


@dagster.definitions
def defs() -> dagster.Definitions:
    """Entry point for ``dagster-webserver -m kedro_dagster_runner.code_location``."""
    return build_definitions()
