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

import json
import logging
import os
from dataclasses import asdict
from functools import cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster

from kedro_dagster_runner.config import load_project_config, resolve_config
from kedro_dagster_runner.config.jobs import job_pipeline, schedule_name
from kedro_dagster_runner.errors import ConfigError, PartitionError, ProjectError
from kedro_dagster_runner.executors import CODE_LOCATION_KIND
from kedro_dagster_runner.executors.launched import EXECUTOR_TAG
from kedro_dagster_runner.naming import dagster_name, job_name_for, unique_op_names
from kedro_dagster_runner.partitions.definitions import PartitionsConfig
from kedro_dagster_runner.partitions.fanout import RUN_PARTITION, fanned_out_nodes
from kedro_dagster_runner.spec import DERIVED_RUN_ID, NodeSpec, ProjectSpec, RunSpec
from kedro_dagster_runner.ui.assets import asset_specs, validator_checks
from kedro_dagster_runner.ui.sensors import sensor_definition

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline

    from kedro_dagster_runner.config import ResolvedConfig
    from kedro_dagster_runner.config.jobs import JobSettings
    from kedro_dagster_runner.config.loggers import LoggerSettings

_LOGGER = logging.getLogger(__name__)

PROJECT_PATH_ENV = "KEDRO_PROJECT_PATH"
ENV_ENV = "KEDRO_ENV"
CONF_SOURCE_ENV = "KEDRO_CONF_SOURCE"


def pipeline_run_spec(
    name: str,
    pipeline: Pipeline,
    project: ProjectSpec,
    catalog: CatalogProtocol | None = None,
    job: str | None = None,
    loggers: Mapping[str, LoggerSettings] | None = None,
    executor: str | None = None,
    parameters: Mapping[str, Any] | None = None,
    config: ResolvedConfig | None = None,
) -> RunSpec:
    """The spec of a code-location job: run by the ``launched`` kind, Kedro run id derived per
    Dagster run.

    ``name`` is the registered pipeline the nodes come from; ``job`` the dagster.yml job they
    were selected for (the Dagster job is named after it), if any; ``executor`` the dagster.yml
    executor its runs use (see :mod:`kedro_dagster_runner.executors.launched`); ``parameters``
    the project's, typed in the launchpad (:mod:`kedro_dagster_runner.ui.launchpad_params`);
    ``config`` the dagster.yml whose retry policies and pools the nodes get.

    When the nodes that fan out over partitions (read from ``catalog``) share one static or
    time-window partitions definition, the job is partitioned by it: each Dagster run is for
    one key, and those nodes' ops run for that key only. Otherwise every node runs over whole
    datasets, as under Kedro's runners.
    """
    op_names = unique_op_names(node.name for node in pipeline.nodes)
    fanned = _fanned_out(name if job is None else job, pipeline, catalog)
    partitions = _job_partitions([config for config, _ in fanned.values()])
    if partitions is None:
        fanned = {}
    tags = {"kedro/pipeline": name, "kedro/env": project.env or "", "kedro/runner": "UI"}
    if job is not None:
        tags["kedro/job"] = job
    if executor is not None:
        tags[EXECUTOR_TAG] = executor
    return RunSpec(
        run_id=DERIVED_RUN_ID,
        job_name=dagster_name(job) if job is not None else job_name_for([name]),
        nodes=[
            NodeSpec(
                node.name,
                op_names[node.name],
                list(node.inputs),
                list(node.outputs),
                sorted(node.tags),
                partition_key=RUN_PARTITION if node.name in fanned else None,
                partitioned_outputs=fanned[node.name][1] if node.name in fanned else [],
                **(config.node_settings(node.name, sorted(node.tags)) if config else {}),
            )
            for node in pipeline.nodes
        ],
        partitions=asdict(partitions) if partitions is not None else None,
        parameters=_json_values(parameters) if parameters is not None else None,
        executor_kind=CODE_LOCATION_KIND,
        project=ProjectSpec(
            project_path=project.project_path,
            package_name=project.package_name,
            env=project.env,
            conf_source=project.conf_source,
            pipeline_names=[name],
        ),
        tags=tags,
        loggers={name: logger.model_dump() for name, logger in (loggers or {}).items()},
    )


def _json_values(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters as JSON carries them (a value JSON has no type for becomes its text)."""
    return json.loads(json.dumps(dict(parameters), default=str))


def _lineage_pipeline(registered: Mapping[str, Pipeline]) -> Pipeline:
    """The nodes whose datasets are the code location's assets: ``__default__``, and those of
    every other pipeline that can join it (a pipeline whose nodes clash with it, e.g. writing
    one of its outputs from another node, is left out)."""
    from kedro.pipeline import Pipeline
    from kedro.pipeline.pipeline import OutputNotUniqueError

    combined = registered.get("__default__") or Pipeline([])
    for name, pipeline in registered.items():
        if name == "__default__":
            continue
        try:
            combined = combined + pipeline
        except (OutputNotUniqueError, ValueError):  # an output of two nodes, a name twice
            continue
    return combined


def _fanned_out(
    job: str, pipeline: Pipeline, catalog: CatalogProtocol | None
) -> dict[str, tuple[PartitionsConfig, list[str]]]:
    """The job's nodes that fan out over partitions; none, with a warning, when their datasets
    cannot be fanned out (the job then runs its nodes over whole datasets, and the other jobs of
    the code location still load; ``kedro run`` of it reports the same error)."""
    if catalog is None:
        return {}
    try:
        return fanned_out_nodes(pipeline, catalog)
    except PartitionError as error:
        _LOGGER.warning("Job %s is not partitioned: %s", job, error)
        return {}


def _job_partitions(definitions: list[PartitionsConfig]) -> PartitionsConfig | None:
    """The one definition a job is partitioned by: shared by all its fanned-out nodes, and
    not dynamic (whose keys the instance would have to be told)."""
    if not definitions or definitions[0].is_dynamic:
        return None
    if all(definitions[0].same_as(other) for other in definitions[1:]):
        return definitions[0]
    return None


@cache
def _load(project_path: str, env: str | None, conf_source: str | None) -> dagster.Definitions:
    from kedro.framework.project import pipelines
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from kedro_dagster_runner.job import build_job

    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
    metadata = bootstrap_project(Path(project_path))
    with KedroSession.create(project_path=project_path, env=env, conf_source=conf_source) as s:
        context = s.load_context()
        catalog = context.catalog
        config = resolve_config(load_project_config(context.config_loader))
    project = ProjectSpec(
        project_path=str(context.project_path),
        package_name=metadata.package_name,
        env=env,
        conf_source=conf_source,
    )
    registered = {name: pipelines[name] for name in sorted(pipelines.keys())}
    everything = _lineage_pipeline(registered)
    jobs = {
        name: build_job(
            pipeline_run_spec(
                name,
                pipeline,
                project,
                catalog,
                executor=config.runner.executor,
                parameters=context.params,
                config=config,
            ).to_json()
        )
        for name, pipeline in registered.items()
        if pipeline.nodes
    }
    configured = configured_jobs(config, registered, project, catalog, context.params)
    clashes = sorted({job.name for job in jobs.values()} & {job.name for job, _ in configured})
    if clashes:
        raise ConfigError(
            f"jobs: {', '.join(clashes)} is also the name of a pipeline's job: rename the job."
        )
    all_jobs = {job.name: job for job in [*jobs.values(), *(job for job, _ in configured)]}
    return dagster.Definitions(
        assets=asset_specs(everything, catalog),
        asset_checks=validator_checks(everything, catalog),
        jobs=list(all_jobs.values()),
        schedules=[schedule for _, schedules in configured for schedule in schedules],
        sensors=[
            sensor_definition(name, settings, all_jobs) for name, settings in config.sensors.items()
        ],
    )


def configured_jobs(
    config: ResolvedConfig,
    registered: Mapping[str, Pipeline],
    project: ProjectSpec,
    catalog: CatalogProtocol | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> list[tuple[dagster.JobDefinition, list[dagster.ScheduleDefinition]]]:
    """dagster.yml's jobs, each with its schedule (if any).

    Raises:
        ConfigError: A job's pipeline is not usable
            (:func:`~kedro_dagster_runner.config.jobs.job_pipeline`).
    """
    from kedro_dagster_runner.job import build_job

    built = []
    for name, settings in config.jobs.items():
        spec = pipeline_run_spec(
            settings.pipeline.pipeline_name,
            job_pipeline(name, settings, registered),
            project,
            catalog,
            job=name,
            loggers=config.loggers_of(name),
            executor=settings.executor or config.runner.executor,
            parameters=parameters,
            config=config,
        )
        job = build_job(spec.to_json())
        built.append((job, job_schedules(name, settings, config, job)))
    return built


def job_schedules(
    name: str, settings: JobSettings, config: ResolvedConfig, job: dagster.JobDefinition
) -> list[dagster.ScheduleDefinition]:
    """The schedule of job ``name``: a named one of ``schedules`` or its inline one. A job
    partitioned by time windows gets a partitioned schedule: each tick runs the partition of
    the last complete window.

    Raises:
        ConfigError: A schedule on a job partitioned by static keys (a tick cannot pick one).
    """
    if settings.schedule is None:
        return []
    named = isinstance(settings.schedule, str)
    schedule = config.schedules[settings.schedule] if named else settings.schedule
    windows = job.partitions_def
    if windows is not None and not isinstance(windows, dagster.TimeWindowPartitionsDefinition):
        raise ConfigError(
            f"jobs.{name}.schedule: the job is partitioned by static keys, so a schedule tick "
            "cannot choose one; launch its partitions from the UI (a backfill), or partition it "
            "by time windows."
        )
    return [
        dagster.ScheduleDefinition(
            name=schedule_name(name, settings.schedule if named else None),
            cron_schedule=schedule.cron_schedule,
            execution_timezone=schedule.execution_timezone,
            description=schedule.description,
            metadata=schedule.metadata,
            default_status=dagster.DefaultScheduleStatus(schedule.default_status),
            job=job,
            execution_fn=partial(_window_just_ended, windows) if windows is not None else None,
        )
    ]


def _window_just_ended(
    windows: dagster.TimeWindowPartitionsDefinition, context: dagster.ScheduleEvaluationContext
) -> dagster.RunRequest | dagster.SkipReason:
    """A tick of a time-partitioned job's schedule: a run of the last window that ended at the
    tick's time (its cron and time zone are the schedule's own)."""
    window = windows.get_prev_partition_window(context.scheduled_execution_time)
    keys = windows.get_partition_keys_in_time_window(window) if window is not None else []
    if not keys:
        return dagster.SkipReason("No time window of the job has ended yet.")
    return dagster.RunRequest(partition_key=keys[-1])


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


def job_named(project_path: str, env: str | None, name: str) -> dagster.JobDefinition:
    """The code location's job ``name`` (a reconstruction target: ``dagster.execute_job`` and
    other processes rebuild it from these three strings)."""
    return build_definitions(project_path, env).resolve_job_def(name)


@dagster.definitions
def defs() -> dagster.Definitions:
    """Entry point for ``dagster-webserver -m kedro_dagster_runner.ui.code_location``."""
    return build_definitions()
