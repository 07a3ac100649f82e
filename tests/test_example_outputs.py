"""The example project writes the same bytes under SequentialRunner and DagsterRunner."""

from __future__ import annotations

from pathlib import Path

import pytest
from kedro_projects import (
    EXAMPLE_PROJECT,
    RUNNER,
    copy_project,
    kedro_runner,
    needs_runner_params,
    persisted_outputs,
)


@pytest.mark.parametrize(
    "dagster_args",
    [
        pytest.param(("--runner", RUNNER), id="in_process"),
        pytest.param(("--runner", RUNNER, "--env", "dev"), id="multiprocess"),
        pytest.param(
            ("--runner", RUNNER, "--runner-params", "executor=dagster_in_process"),
            id="dagster_in_process",
            marks=needs_runner_params,
        ),
        pytest.param(
            ("--runner", RUNNER, "--runner-params", "executor=dagster_multiprocess"),
            id="dagster_multiprocess",
            marks=needs_runner_params,
        ),
    ],
)
def test_dagster_runner_writes_the_same_bytes_as_sequential_runner(
    tmp_path: Path, dagster_args: tuple[str, ...]
) -> None:
    reference_project = copy_project(EXAMPLE_PROJECT, tmp_path / "sequential")
    dagster_project = copy_project(EXAMPLE_PROJECT, tmp_path / "dagster")

    reference = kedro_runner(reference_project, tmp_path)()
    result = kedro_runner(dagster_project, tmp_path)(*dagster_args)

    assert reference.returncode == 0, reference.output
    assert result.returncode == 0, result.output
    expected = persisted_outputs(reference_project)
    actual = persisted_outputs(dagster_project)
    assert len(expected) == 7  # 3 parquet tables, 2 versioned models, 2 metrics files
    assert actual.keys() == expected.keys()
    for key in expected:
        assert actual[key] == expected[key], f"{key} differs"
    assert "Completed 9 out of 9 tasks" in result.output
