"""Fixtures: fresh copies of the test projects and a way to run `kedro run` on them."""

from __future__ import annotations

from kedro_projects import (  # noqa: F401 - fixtures shared with integration/
    dagster_home,
    demo_project,
    example_project,
    kedro_demo,
    kedro_example,
)
