"""kedro-dagster-runner: run any Kedro project on Dagster executors.

``kedro run --runner kedro_dagster_runner.DagsterRunner``. The runner class is imported lazily so
that importing the package (e.g. for its Kedro hook plugin) stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["DagsterRunner"]

if TYPE_CHECKING:
    from kedro_dagster_runner.runner import DagsterRunner


def __getattr__(name: str) -> Any:
    if name == "DagsterRunner":
        from kedro_dagster_runner.runner import DagsterRunner

        return DagsterRunner
    raise AttributeError(f"module 'kedro_dagster_runner' has no attribute {name!r}")
