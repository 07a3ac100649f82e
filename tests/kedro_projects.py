"""Helpers shared by tests/ and integration/: fresh copies of test projects, `kedro run`."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
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
# Some sandboxes set PYTHONDONTWRITEBYTECODE: every `kedro run` a test starts would compile this
# package and the test project again (0.2-0.5 s each). Subprocesses cache bytecode, as a user's do.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


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


def wait_for(condition: Callable[[], object], seconds: float, what: str) -> None:
    """Poll ``condition`` every 0.2 s until it is true; fail naming ``what`` after ``seconds``
    (a bound on waiting for a process, never a speed assertion)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds} s waiting for {what}")
        time.sleep(0.2)


def processes_with_env(name: str, value: str) -> set[int]:
    """Live processes whose environment has ``name=value``: every process a test started with a
    marker of its own (pool workers, a local cluster), whoever their parent is now."""
    found = set()
    needle = f"{name}={value}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if needle in environ and state != "Z":
            found.add(int(entry.name))
    return found


def hook_calls(hook_log: Path, hook: str | None = None) -> list[dict]:
    """The calls the demo project's RecordingHooks wrote to ``hook_log`` (of ``hook`` only)."""
    if not hook_log.exists():
        return []
    calls = [json.loads(line) for line in hook_log.read_text().splitlines() if line.strip()]
    return [call for call in calls if hook is None or call["hook"] == hook]


def with_retry_policy(project: Path, max_retries: int, executor: str) -> None:
    """Give the demo project's nodes tagged `flaky` a retry policy of ``max_retries`` and run
    them on ``executor`` (dagster.yml's other settings kept)."""
    import yaml

    path = project / "conf" / "base" / "dagster.yml"
    config = yaml.safe_load(path.read_text()) or {}
    config["retry_policies"] = {"flaky": {"max_retries": max_retries, "tags": ["flaky"]}}
    config.setdefault("runner", {})["executor"] = executor
    path.write_text(yaml.safe_dump(config))


def with_validators(project: Path) -> None:
    """Declare Kedro 1.7 dataset validators in the demo project's catalog: ``summary`` must have
    a count (it has), ``doubled`` is checked on save with severity ``warn`` (it fails: 10, 18
    and 12 are not under ten)."""
    import yaml

    path = project / "conf" / "base" / "catalog.yml"
    catalog = yaml.safe_load(path.read_text())
    catalog["summary"]["validator"] = "demo_project.validators.has_count"
    catalog["doubled"]["validator"] = {
        "class": "demo_project.validators.under_ten", "severity": "warn", "on": ["save"]
    }  # fmt: skip
    path.write_text(yaml.safe_dump(catalog))


# Fixtures of both suites (imported by tests/conftest.py and integration/conftest.py) ----


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
