"""A kedro-dagster project's dagster.yml, unchanged, on a real engine: the example project runs on
its dask_executor entry (a local dask.distributed cluster) with SequentialRunner's bytes."""

from __future__ import annotations

from pathlib import Path

import yaml
from kedro_projects import EXAMPLE_PROJECT, RUNNER, copy_project, kedro_runner, persisted_outputs
from test_kedro_dagster_executors import KEDRO_DAGSTER_EXECUTORS


def test_a_kedro_dagster_file_runs_the_example_on_its_dask_executor_with_the_same_bytes(
    tmp_path: Path,
) -> None:
    """A kedro-dagster dagster.yml (every executor kind, a schedule) as the project's
    conf/base/dagster.yml: `kedro run` runs on its dask_executor (a local cluster of 2 workers)
    and writes what SequentialRunner writes, with one notice for the cluster option the kind
    does not use."""
    reference_project = copy_project(EXAMPLE_PROJECT, tmp_path / "sequential")
    project = copy_project(EXAMPLE_PROJECT, tmp_path / "kedro_dagster_file")
    (project / "conf" / "base" / "dagster.yml").write_text(
        yaml.safe_dump(
            {
                "executors": KEDRO_DAGSTER_EXECUTORS,
                "schedules": {"daily": {"cron_schedule": "0 6 * * *"}},
                "runner": {"executor": "dask_local"},
            }
        )
    )

    reference = kedro_runner(reference_project, tmp_path)()
    result = kedro_runner(project, tmp_path)("--runner", RUNNER)

    assert reference.returncode == 0, reference.output
    assert result.returncode == 0, result.output
    assert "on the dask executor" in result.output
    assert "cluster.local.memory_limit" in result.output
    expected, actual = persisted_outputs(reference_project), persisted_outputs(project)
    assert len(expected) == 7
    assert actual == expected
