"""Helpers shared by tests/ and integration/: fresh copies of test projects, `kedro run`."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from kedro import __version__ as kedro_version

TESTS = Path(__file__).parent
DEMO_PROJECT = TESTS / "demo_project"
EXAMPLE_PROJECT = TESTS.parent / "examples" / "spaceflights"
RUNNER = "kedro_dagster_runner.DagsterRunner"

KEDRO_VERSION = tuple(int(part) for part in kedro_version.split(".")[:2])
# `kedro run --pipelines` exists since Kedro 1.2; `--pipeline` (one name) in every 1.x.
PIPELINES_OPTION = "--pipelines" if KEDRO_VERSION >= (1, 2) else "--pipeline"
needs_runner_params = pytest.mark.skipif(
    KEDRO_VERSION < (1, 6), reason="kedro run --runner-params exists since Kedro 1.6"
)

os.environ["KEDRO_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "1"


def copy_project(source: Path, target: Path) -> Path:
    """Copy a Kedro project without outputs or caches."""
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
        """Every hook call recorded by the demo project's RecordingHooks, in order."""
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


def kedro_runner(project: Path, tmp_path: Path) -> KedroRunner:
    """A function running `kedro run ARGS` in ``project`` in a subprocess."""
    counter = iter(range(1000))

    def run(
        *args: str, env: dict[str, str] | None = None, hook_log: Path | None = None
    ) -> KedroRun:
        hook_log = hook_log or tmp_path / f"hooks-{next(counter)}.jsonl"
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
