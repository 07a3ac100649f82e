"""Whole-process ``kedro run`` time on the spaceflights example: SequentialRunner vs DagsterRunner.

The example is copied to a scratch directory first (without generated data), so that the runs
neither depend on nor change the working tree. Runs alternate (Sequential, Dagster, ...) so that
drift on a shared machine hits both alike; the best of ``repeats`` is kept for each.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchlib.execute import child_env

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "spaceflights"
DAGSTER_RUNNER = "kedro_dagster_runner.DagsterRunner"
VARIANTS: dict[str, list[str]] = {
    "SequentialRunner": [],
    "DagsterRunner": ["--runner", DAGSTER_RUNNER],
}


def copy_example(target: Path) -> Path:
    """Copy the spaceflights example to ``target`` without generated outputs."""
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "sessions", "*.log")
    shutil.copytree(EXAMPLE, target, ignore=ignore)
    for generated in sorted((target / "data").glob("0[2-8]_*")):
        for item in generated.iterdir():
            if item.name != ".gitkeep":
                shutil.rmtree(item) if item.is_dir() else item.unlink()
    return target


def _kedro_command() -> list[str]:
    script = Path(sys.executable).with_name("kedro")
    return [str(script)] if script.exists() else [sys.executable, "-m", "kedro"]


def _time_run(project: Path, extra_args: list[str], log: Path) -> float:
    started = time.perf_counter()
    with log.open("ab") as stream:
        done = subprocess.run(
            [*_kedro_command(), "run", *extra_args],
            cwd=project,
            env=child_env(),
            stdout=stream,
            stderr=subprocess.STDOUT,
            check=False,
        )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"kedro run {' '.join(extra_args)} failed; see {log}")
    return elapsed


def measure(scratch: Path, repeats: int = 3) -> dict[str, Any]:
    """Best-of-``repeats`` whole-process wall time of each variant, plus all samples."""
    project = copy_example(scratch / "spaceflights")
    log = scratch / "cli-startup.log"
    _time_run(project, [], log)  # warm-up: file cache, first outputs
    samples: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(repeats):
        for name, extra_args in VARIANTS.items():
            samples[name].append(_time_run(project, extra_args, log))
    best = {name: min(values) for name, values in samples.items()}
    return {
        "command": "kedro run [--runner kedro_dagster_runner.DagsterRunner]",
        "project": str(EXAMPLE),
        "samples_s": samples,
        "best_s": best,
        "difference_s": best["DagsterRunner"] - best["SequentialRunner"],
    }
