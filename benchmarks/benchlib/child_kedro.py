"""Benchmark child: run one synthetic project once through a KedroSession with one runner.

Usage (the parent runs it in a fresh interpreter, ``PYTHONPATH=benchmarks``)::

    python -m benchlib.child_kedro --project DIR --runner ID --result FILE [--profile FILE]

Only ``session.run`` is timed. The result file holds the wall time, the driver's RSS before the
run and its peak (``RUSAGE_SELF``), the workers' peak (``RUSAGE_CHILDREN``, after the pools and
any forkserver have been stopped) and a check of the run's outputs.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path
from typing import Any

from benchlib.measure import (
    current_rss_mb,
    maybe_profile,
    peak_rss_mb,
    reap_children,
    stop_forkserver,
    write_result,
)

PARALLEL_WORKERS = 2

# runner id -> (class path, keyword arguments)
RUNNERS: dict[str, tuple[str, dict[str, Any]]] = {
    "SequentialRunner": ("kedro.runner.SequentialRunner", {}),
    "ParallelRunner": ("kedro.runner.ParallelRunner", {"max_workers": PARALLEL_WORKERS}),
    "ThreadRunner": ("kedro.runner.ThreadRunner", {}),
    "kdr:in_process": (
        "kedro_dagster_runner.DagsterRunner",
        {"executor": "in_process"},
    ),
    "kdr:multiprocess": (
        "kedro_dagster_runner.DagsterRunner",
        {"executor": "multiprocess", "max_concurrent": PARALLEL_WORKERS},
    ),
    "kdr:dagster_in_process": (
        "kedro_dagster_runner.DagsterRunner",
        {"executor": "dagster_in_process"},
    ),
    "kdr:dagster_multiprocess": (
        "kedro_dagster_runner.DagsterRunner",
        {"executor": "dagster_multiprocess", "max_concurrent": PARALLEL_WORKERS},
    ),
}


def make_runner(runner_id: str) -> Any:
    """Instantiate the runner behind ``runner_id`` (see :data:`RUNNERS`)."""
    import importlib

    class_path, kwargs = RUNNERS[runner_id]
    module_name, class_name = class_path.rsplit(".", 1)
    return getattr(importlib.import_module(module_name), class_name)(**kwargs)


def check_outputs(outputs: dict[str, Any], project_path: Path) -> str:
    """``"ok"`` when the free outputs are what the shape must produce, else a description."""
    shape, size = project_path.name.rsplit("_", 1)
    n = int(size)
    loaded = {name: _value(data) for name, data in outputs.items()}
    expected: dict[str, Any]
    if shape == "chain":
        expected = {f"d_{n - 1}": n - 1}
    elif shape == "fanout":
        expected = {f"out_{i}": 1 for i in range(1, n)}
    elif shape == "handoff":
        expected = {"total": float(200_000_000 // 8)}
    else:
        expected = {name: value for name, value in loaded.items() if name.startswith("cpu_")}
        if len(expected) != n:
            return f"expected {n} cpu outputs, got {len(expected)}"
    if loaded != expected:
        wrong = sorted(set(expected.items()) ^ set(loaded.items()))[:3]
        return f"unexpected outputs, e.g. {wrong}"
    return "ok"


def _value(data: Any) -> Any:
    """Kedro 1.x returns free outputs as datasets; older releases returned the data."""
    return data.load() if hasattr(data, "load") else data


def run_once(project_path: Path, runner_id: str, profile: str | None) -> dict[str, Any]:
    """Bootstrap the project, run it with ``runner_id`` and measure ``session.run``."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(project_path)
    runner = make_runner(runner_id)
    with KedroSession.create(project_path=project_path) as session:
        rss_before = current_rss_mb()
        children_before = peak_rss_mb(resource.RUSAGE_CHILDREN)
        with maybe_profile(profile):
            started = time.perf_counter()
            outputs = session.run(runner=runner)
            wall = time.perf_counter() - started
    check = check_outputs(outputs, project_path)
    del outputs
    reap_children()
    stop_forkserver()
    return {
        "wall_s": wall,
        "driver_rss_before_run_mb": rss_before,
        "driver_peak_rss_mb": peak_rss_mb(resource.RUSAGE_SELF),
        "workers_peak_rss_mb": peak_rss_mb(resource.RUSAGE_CHILDREN),
        "children_peak_before_run_mb": children_before,
        "check": check,
        "pid": os.getpid(),
    }


def main() -> None:
    """Parse the command line, run once and write the result file."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--project", required=True, type=Path)
    parser.add_argument("--runner", required=True, choices=sorted(RUNNERS))
    parser.add_argument("--result", required=True)
    parser.add_argument("--profile", default=None, help="write cProfile stats of session.run")
    args = parser.parse_args()
    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
    write_result(args.result, run_once(args.project, args.runner, args.profile))


if __name__ == "__main__":
    main()
