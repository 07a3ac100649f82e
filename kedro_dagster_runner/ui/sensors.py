"""dagster.yml's sensors as Dagster run-status sensors of the code location.

A sensor watches runs of some of the code location's jobs reaching a status. When one does, it
calls the project's hook function, if any, with a :class:`RunStatusEvent` (in the daemon's code
server), and requests a run of its ``launch`` job, if any (a run Dagster launches, so Kedro's
hooks fire in it as in any launched run).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import dagster

from kedro_dagster_runner.config.sensors import SensorSettings
from kedro_dagster_runner.errors import ConfigError


@dataclass(frozen=True)
class RunStatusEvent:
    """What a sensor's hook gets about the run that reached the watched status.

    Attributes:
        sensor: The sensor's name in dagster.yml.
        status: The status reached (``SUCCESS``, ``FAILURE``, ...).
        dagster_run_id: The Dagster run.
        job_name: Its job.
        kedro_run_id: Its Kedro run id (``kedro/run_id`` tag), if known.
        tags: Its Dagster tags.
        failure_message: The run's failure message, for failures.
    """

    sensor: str
    status: str
    dagster_run_id: str
    job_name: str
    kedro_run_id: str | None
    tags: Mapping[str, str]
    failure_message: str | None = None


RunStatusHook = Callable[[RunStatusEvent], object]


def _import_hook(name: str, target: str) -> RunStatusHook:
    module_name, _, attribute = target.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"sensors.{name}.hook: cannot import '{target}': {exc}") from None
    if not callable(function):
        raise ConfigError(f"sensors.{name}.hook: '{target}' is not callable")
    return function


def sensor_definition(
    name: str, settings: SensorSettings, jobs: Mapping[str, dagster.JobDefinition]
) -> dagster.RunStatusSensorDefinition:
    """The run-status sensor of entry ``name``; ``jobs`` are the code location's, by name.

    Raises:
        ConfigError: It names a job the code location does not have, or a hook that cannot be
            imported.
    """
    references = [("jobs", job) for job in settings.jobs or []]
    if settings.launch is not None:
        references.append(("launch", settings.launch))
    for key, wanted in references:
        if wanted not in jobs:
            raise ConfigError(
                f"sensors.{name}.{key}: no job '{wanted}' in the code location; "
                f"jobs: {', '.join(sorted(jobs))}"
            )
    hook = _import_hook(name, settings.hook) if settings.hook else None
    launch = jobs[settings.launch] if settings.launch else None
    watched = [jobs[job] for job in settings.jobs] if settings.jobs else list(jobs.values())

    def react(context: dagster.RunStatusSensorContext) -> dagster.RunRequest | None:
        run = context.dagster_run
        if hook is not None:
            message = None
            if settings.run_status == "FAILURE" and context.dagster_event.message:
                message = context.dagster_event.message
            hook(
                RunStatusEvent(
                    sensor=name,
                    status=settings.run_status,
                    dagster_run_id=run.run_id,
                    job_name=run.job_name,
                    kedro_run_id=run.tags.get("kedro/run_id"),
                    tags=dict(run.tags),
                    failure_message=message,
                )
            )
        if launch is None:
            return None
        return dagster.RunRequest(run_key=f"{name}:{run.run_id}", job_name=launch.name)

    return dagster.run_status_sensor(
        run_status=dagster.DagsterRunStatus(settings.run_status),
        name=name,
        description=settings.description,
        minimum_interval_seconds=settings.minimum_interval_seconds,
        monitored_jobs=watched,
        default_status=dagster.DefaultSensorStatus(settings.default_status),
        request_job=launch,
        metadata=settings.metadata,
    )(react)
