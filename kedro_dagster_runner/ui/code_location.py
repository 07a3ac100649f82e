"""A Dagster code location for a Kedro project: dataset lineage as assets (:mod:`.assets`), and a
job per pipeline.

Runs made with ``kedro run --runner kedro_dagster_runner.DagsterRunner`` against a shared
instance show in the Dagster UI without any code location. This one adds what needs the project:
the asset lineage graph (one ``AssetSpec`` per persisted dataset, its dependencies being the
persisted datasets it is computed from, through any in-memory datasets in between) and one job
per registered pipeline, named like the runner's jobs (``kedro_<pipeline>``) so the UI can
re-execute a run started from ``kedro run`` (whole run, from failure, selected nodes).

Load it with the project given by environment variables::

    KEDRO_PROJECT_PATH=/path/to/project KEDRO_ENV=dev \\
        dagster-webserver -h 127.0.0.1 -m kedro_dagster_runner.ui.code_location

(``kedro dagster-runner ui`` does exactly this). Jobs launched from the UI run every node in the
run worker process, with a Kedro run id derived from the Dagster run (so versioned datasets get a
fresh save version per run). Re-executing from a failure needs the failed nodes' inputs to be
persisted: in-memory data of the earlier run is gone.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import dagster

from kedro_dagster_runner.errors import ProjectError
from kedro_dagster_runner.executors import CODE_LOCATION_KIND
from kedro_dagster_runner.naming import job_name_for, unique_op_names
from kedro_dagster_runner.spec import DERIVED_RUN_ID, NodeSpec, ProjectSpec, RunSpec
from kedro_dagster_runner.ui.assets import asset_specs

if TYPE_CHECKING:
    from kedro.pipeline import Pipeline

PROJECT_PATH_ENV = "KEDRO_PROJECT_PATH"
ENV_ENV = "KEDRO_ENV"
CONF_SOURCE_ENV = "KEDRO_CONF_SOURCE"


def pipeline_run_spec(name: str, pipeline: Pipeline, project: ProjectSpec) -> RunSpec:
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
        executor_kind=CODE_LOCATION_KIND,
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
        raise ProjectError(
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
    """Entry point for ``dagster-webserver -m kedro_dagster_runner.ui.code_location``."""
    return build_definitions()
