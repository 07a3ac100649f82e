"""Shared fixtures: fresh copies of the test projects and a way to run `kedro run` on them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
DEMO_PROJECT = TESTS / "demo_project"
EXAMPLE_PROJECT = TESTS.parent / "examples" / "spaceflights"
RUNNER = "kedro_dagster_runner.DagsterRunner"

os.environ["KEDRO_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "1"


def _copy_project(source: Path, target: Path) -> Path:
    ignore = shutil.ignore_patterns(
        "__pycache__", "*.egg-info", "out", "02_*", "03_*", "06_*", "08_*"
    )
    shutil.copytree(source, target, ignore=ignore)
    for folder in ("02_intermediate", "03_primary", "06_models", "08_reporting"):
        if (source / "data" / folder).exists():
            (target / "data" / folder).mkdir(exist_ok=True)
    return target


@dataclass
class KedroRun:
    """The outcome of one `kedro run` in a subprocess, with the hook calls it recorded."""

    returncode: int
    output: str
    hook_log: Path

    @property
    def hooks(self) -> list[dict]:
        if not self.hook_log.exists():
            return []
        return [json.loads(line) for line in self.hook_log.read_text().splitlines()]

    def calls(self, hook: str) -> list[dict]:
        return [call for call in self.hooks if call["hook"] == hook]

    @property
    def driver_pid(self) -> int:
        (call,) = self.calls("before_pipeline_run")
        return call["pid"]

    @property
    def run_id(self) -> str:
        (call,) = self.calls("before_pipeline_run")
        return call["run_id"]

    def nodes_run(self) -> list[str]:
        return sorted(call["node"] for call in self.calls("before_node_run"))


KedroRunner = Callable[..., KedroRun]


def _kedro_runner(project: Path, tmp_path: Path) -> KedroRunner:
    counter = iter(range(1000))

    def run(*args: str, env: dict[str, str] | None = None) -> KedroRun:
        hook_log = tmp_path / f"hooks-{next(counter)}.jsonl"
        full_env = {**os.environ, "DEMO_HOOK_LOG": str(hook_log), "COLUMNS": "200", **(env or {})}
        result = subprocess.run(
            [sys.executable, "-m", "kedro", "run", *args],
            cwd=project,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        return KedroRun(result.returncode, result.stdout + result.stderr, hook_log)

    return run


@pytest.fixture
def demo_project(tmp_path: Path) -> Path:
    return _copy_project(DEMO_PROJECT, tmp_path / "demo_project")


@pytest.fixture
def kedro_demo(demo_project: Path, tmp_path: Path) -> KedroRunner:
    """Run `kedro run ARGS` in a fresh copy of the demo project."""
    return _kedro_runner(demo_project, tmp_path)


@pytest.fixture
def example_project(tmp_path: Path) -> Path:
    return _copy_project(EXAMPLE_PROJECT, tmp_path / "spaceflights")


@pytest.fixture
def kedro_example(example_project: Path, tmp_path: Path) -> KedroRunner:
    """Run `kedro run ARGS` in a fresh copy of the example project."""
    return _kedro_runner(example_project, tmp_path)
