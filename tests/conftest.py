"""Fixtures: fresh copies of the test projects and a way to run `kedro run` on them."""

from __future__ import annotations

from pathlib import Path

import pytest
from kedro_projects import DEMO_PROJECT, EXAMPLE_PROJECT, KedroRunner, copy_project, kedro_runner


@pytest.fixture
def demo_project(tmp_path: Path) -> Path:
    return copy_project(DEMO_PROJECT, tmp_path / "demo_project")


@pytest.fixture
def kedro_demo(demo_project: Path, tmp_path: Path) -> KedroRunner:
    """Run `kedro run ARGS` in a fresh copy of the demo project."""
    return kedro_runner(demo_project, tmp_path)


@pytest.fixture
def example_project(tmp_path: Path) -> Path:
    return copy_project(EXAMPLE_PROJECT, tmp_path / "spaceflights")


@pytest.fixture
def kedro_example(example_project: Path, tmp_path: Path) -> KedroRunner:
    """Run `kedro run ARGS` in a fresh copy of the example project."""
    return kedro_runner(example_project, tmp_path)


@pytest.fixture
def dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A persistent, empty Dagster instance for the test (``runner.instance: dagster_home``)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home
