"""Fixtures: fresh copies of the test projects and a way to run `kedro run` on them."""

from __future__ import annotations

from pathlib import Path

import pytest
from kedro_projects import (  # noqa: F401 - fixtures shared with integration/
    demo_project,
    example_project,
    kedro_demo,
    kedro_example,
)


@pytest.fixture
def dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A persistent, empty Dagster instance for the test (``runner.instance: dagster_home``)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home
