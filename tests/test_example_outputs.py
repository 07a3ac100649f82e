"""The example project writes the same bytes under SequentialRunner and DagsterRunner."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import EXAMPLE_PROJECT, RUNNER, _copy_project, _kedro_runner

OUTPUT_FOLDERS = ("02_intermediate", "03_primary", "06_models", "08_reporting")
VERSION = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}\.\d{2}\.\d{2}\.\d{3}Z")


def persisted_outputs(project: Path) -> dict[str, bytes]:
    """Every file a run wrote, keyed by path with the version folder made generic."""
    files = {}
    for folder in OUTPUT_FOLDERS:
        for path in sorted((project / "data" / folder).rglob("*")):
            if path.is_file() and path.name != ".gitkeep":
                files[VERSION.sub("<version>", str(path.relative_to(project)))] = path.read_bytes()
    return files


@pytest.mark.parametrize(
    "dagster_args",
    [
        pytest.param(("--runner", RUNNER), id="in_process"),
        pytest.param(("--runner", RUNNER, "--env", "dev"), id="multiprocess"),
        pytest.param(
            ("--runner", RUNNER, "--runner-params", "executor=dagster_in_process"),
            id="dagster_in_process",
        ),
        pytest.param(
            ("--runner", RUNNER, "--runner-params", "executor=dagster_multiprocess"),
            id="dagster_multiprocess",
        ),
    ],
)
def test_dagster_runner_writes_the_same_bytes_as_sequential_runner(
    tmp_path: Path, dagster_args: tuple[str, ...]
) -> None:
    reference_project = _copy_project(EXAMPLE_PROJECT, tmp_path / "sequential")
    dagster_project = _copy_project(EXAMPLE_PROJECT, tmp_path / "dagster")

    reference = _kedro_runner(reference_project, tmp_path)()
    result = _kedro_runner(dagster_project, tmp_path)(*dagster_args)

    assert reference.returncode == 0, reference.output
    assert result.returncode == 0, result.output
    expected = persisted_outputs(reference_project)
    actual = persisted_outputs(dagster_project)
    assert len(expected) == 7  # 3 parquet tables, 2 versioned models, 2 metrics files
    assert actual.keys() == expected.keys()
    for key in expected:
        assert actual[key] == expected[key], f"{key} differs"
    assert "Completed 9 out of 9 tasks" in result.output
