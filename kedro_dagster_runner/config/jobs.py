"""The ``jobs`` and ``schedules`` sections of ``dagster.yml``, in kedro-dagster's format.

::

    schedules:
      daily: {cron_schedule: "0 6 * * *", execution_timezone: Europe/Paris}
    jobs:
      nightly_training:
        pipeline:                    # Kedro's Pipeline.filter, on a registered pipeline
          pipeline_name: data_science
          tags: [training]
        executor: local_pool         # a name under executors (or a bare kind)
        schedule: daily              # a name under schedules, or an inline schedule

A job is a named node selection with its executor. ``kedro run --runner-params job=<name>``
(or ``runner.job``) runs it from the terminal; the code location (``kedro dagster-runner ui``)
offers each one as a Dagster job, with its schedule.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from kedro_dagster_runner.config.loggers import LoggerSettings
from kedro_dagster_runner.errors import ConfigError
from kedro_dagster_runner.executors.options import StrictModel

if TYPE_CHECKING:
    from collections.abc import Mapping

    from kedro.pipeline import Pipeline


class PipelineSelection(StrictModel):
    """Which nodes a job runs: a registered pipeline, filtered as ``kedro run``'s options do
    (Kedro's ``Pipeline.filter``: every condition given must hold)."""

    pipeline_name: str = "__default__"
    from_nodes: list[str] | None = None
    to_nodes: list[str] | None = None
    node_names: list[str] | None = None
    from_inputs: list[str] | None = None
    to_outputs: list[str] | None = None
    node_namespace: str | None = Field(default=None, description="One namespace.")
    node_namespaces: list[str] | None = None
    tags: list[str] | None = None

    def namespaces(self) -> list[str] | None:
        """``node_namespace`` and ``node_namespaces`` together (``None`` when neither is set)."""
        names = [
            *([self.node_namespace] if self.node_namespace else []),
            *(self.node_namespaces or []),
        ]
        return names or None

    def select(self, pipeline: Pipeline) -> Pipeline:
        """The nodes of ``pipeline`` (the registered ``pipeline_name``) this selection keeps."""
        return pipeline.filter(
            tags=self.tags,
            from_nodes=self.from_nodes,
            to_nodes=self.to_nodes,
            node_names=self.node_names,
            from_inputs=self.from_inputs,
            to_outputs=self.to_outputs,
            node_namespaces=self.namespaces(),
        )


class ScheduleSettings(StrictModel):
    """A cron schedule (Dagster's ``ScheduleDefinition``)."""

    cron_schedule: str
    execution_timezone: str | None = None
    description: str | None = None
    metadata: dict[str, Any] | None = None
    default_status: Literal["RUNNING", "STOPPED"] = Field(
        default="STOPPED",
        description="RUNNING: the schedule ticks as soon as the daemon loads it; STOPPED: it "
        "waits to be turned on in the UI.",
    )


class JobSettings(StrictModel):
    """One entry of ``jobs``."""

    pipeline: PipelineSelection = Field(default_factory=PipelineSelection)
    executor: str | None = Field(
        default=None, description="A name under executors or a bare kind (default: runner's)."
    )
    schedule: str | ScheduleSettings | None = None
    loggers: list[str | LoggerSettings] | None = Field(
        default=None, description="Names under loggers, or loggers written inline."
    )


def job_pipeline(name: str, job: JobSettings, registered: Mapping[str, Pipeline]) -> Pipeline:
    """The nodes job ``name`` runs: its ``pipeline`` section applied to the project's
    ``registered`` pipelines.

    Raises:
        ConfigError: The job's pipeline is not registered, or Kedro refuses its filter (unknown
            nodes or datasets, no node left).
    """
    wanted = job.pipeline.pipeline_name
    if wanted not in registered:
        raise ConfigError(
            f"jobs.{name}.pipeline.pipeline_name: no pipeline '{wanted}' is registered; "
            f"registered: {', '.join(sorted(registered))}"
        )
    try:
        return job.pipeline.select(registered[wanted])
    except ValueError as exc:  # Kedro names what it cannot find, or that nothing is left
        raise ConfigError(f"jobs.{name}.pipeline: {exc}") from None


def schedule_name(job: str, schedule: str | None) -> str:
    """The Dagster name of a job's schedule: ``<job>_<schedule>_schedule`` for a named one,
    ``<job>__schedule`` for an inline one (the names kedro-dagster gives them, so a migrated
    schedule keeps its state in the instance)."""
    return f"{job}_{schedule}_schedule" if schedule else f"{job}__schedule"
