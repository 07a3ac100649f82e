"""``runner.job``: a run of one of dagster.yml's jobs from ``kedro run``.

The job's ``pipeline`` section selects the nodes (a registered pipeline through Kedro's
``Pipeline.filter``), in place of the pipeline ``kedro run``'s own options select; its executor
was already chosen with the configuration. The session's pipeline hooks still receive the
session's pipeline (Kedro fires them before the runner is called); the nodes that run, their
hooks, the free outputs returned and the run's Dagster job are the job's.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from kedro_dagster_runner.config.jobs import job_pipeline
from kedro_dagster_runner.errors import ConfigError

if TYPE_CHECKING:
    from kedro.pipeline import Pipeline

    from kedro_dagster_runner.config.jobs import JobSettings
    from kedro_dagster_runner.driver.session_capture import DriverContext

NODE_FILTERS = (
    "tags",
    "node_names",
    "from_nodes",
    "to_nodes",
    "from_inputs",
    "to_outputs",
    "namespace",
    "namespaces",
)
"""``kedro run`` options (as the session's run parameters name them) that select nodes."""
_DEFAULT_PIPELINE = "__default__"


def select_job(
    name: str, job: JobSettings, driver: DriverContext
) -> tuple[Pipeline, DriverContext]:
    """The nodes of job ``name`` and the driver's context pointed at its pipeline (so that
    workers look the nodes up in it).

    Raises:
        ConfigError: ``kedro run`` also selected nodes (``--tags``, ``--nodes``, a different
            ``--pipeline``, ...), or the job's pipeline is not usable
            (:func:`~kedro_dagster_runner.config.jobs.job_pipeline`).
    """
    from kedro.framework.project import pipelines

    wanted = job.pipeline.pipeline_name
    given = [option for option in NODE_FILTERS if driver.run_params.get(option)]
    chosen = list(driver.pipeline_names or [])
    if chosen and chosen not in ([_DEFAULT_PIPELINE], [wanted]):
        given.insert(0, "pipeline")
    if given:
        options = ", ".join(f"--{option.replace('_', '-')}" for option in given)
        raise ConfigError(
            f"runner.job: job '{name}' selects its nodes itself (jobs.{name}.pipeline in "
            f"dagster.yml); kedro run also got {options}: drop them or the job."
        )
    selected = job_pipeline(name, job, pipelines)
    return selected, replace(driver, pipeline_names=[wanted])
