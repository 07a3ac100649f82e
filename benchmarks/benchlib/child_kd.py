"""Benchmark child for kedro-dagster 0.8.1: translate the project, then execute its job once.

Runs under the kedro-dagster venv's interpreter (see :mod:`benchlib.kd_env`)::

    python -m benchlib.child_kd --project DIR --mode in_process|multiprocess --result FILE

The project's ``src/<package>/kd_definitions.py`` builds the code location the way
kedro-dagster's ``definitions.py`` template does (``KedroProjectTranslator(env).to_dagster()``,
``fs_io_manager`` as ``io_manager``, the job's executor from ``conf/kd/dagster.yml``: multiprocess
with ``max_concurrent: 2``). The translation is timed separately (``build_s``); only the
execution counts as the wall time:

* ``in_process``: ``job.execute_in_process(instance=DagsterInstance.ephemeral())``;
* ``multiprocess``: ``dagster.execute_job(reconstructable(kd_job), instance=local_temp())`` with
  the job's multiprocess executor: every step is a spawned process that imports the code
  location again, which re-translates the whole project, as under ``dagster dev``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

from benchlib.measure import (
    current_rss_mb,
    maybe_profile,
    peak_rss_mb,
    reap_children,
    write_result,
)

_INSTANCE_SETTINGS = {"telemetry": {"enabled": False}, "nux": {"enabled": False}}


def _package(project_path: Path) -> str:
    import tomllib

    data = tomllib.loads((project_path / "pyproject.toml").read_text())
    return data["tool"]["kedro"]["package_name"]


def _keep_source_importable(project_path: Path) -> None:
    """Move ``src`` from ``sys.path[0]`` (where bootstrap_project put it) to the end.

    Spawned step processes inherit ``sys.path``, and Dagster's module loader drops
    ``sys.path[0]`` (taking it for the script's directory) while it imports the code location.
    An installed project would be on site-packages instead.
    """
    source = str(project_path / "src")
    if source in sys.path:
        sys.path.remove(source)
    sys.path.append(source)


def _execute(module: Any, mode: str) -> tuple[bool, float]:
    import dagster as dg

    if mode == "in_process":
        job = module.kd_job()
        with dg.DagsterInstance.ephemeral(settings=_INSTANCE_SETTINGS) as instance:
            started = time.perf_counter()
            result = job.execute_in_process(instance=instance, raise_on_error=False)
            return result.success, time.perf_counter() - started
    with dg.DagsterInstance.local_temp(overrides=_INSTANCE_SETTINGS) as instance:
        started = time.perf_counter()
        result = dg.execute_job(dg.reconstructable(module.kd_job), instance=instance)
        return result.success, time.perf_counter() - started


def run_once(project_path: Path, mode: str, profile: str | None) -> dict[str, Any]:
    """Translate the project (timed as ``build_s``) and execute the job (timed as ``wall_s``)."""
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(project_path)
    _keep_source_importable(project_path)
    started = time.perf_counter()
    module = importlib.import_module(f"{_package(project_path)}.kd_definitions")
    build = time.perf_counter() - started
    rss_before = current_rss_mb()
    children_before = peak_rss_mb(resource.RUSAGE_CHILDREN)
    with maybe_profile(profile):
        success, wall = _execute(module, mode)
    reap_children()
    return {
        "wall_s": wall,
        "build_s": build,
        "driver_rss_before_run_mb": rss_before,
        "driver_peak_rss_mb": peak_rss_mb(resource.RUSAGE_SELF),
        "workers_peak_rss_mb": peak_rss_mb(resource.RUSAGE_CHILDREN),
        "children_peak_before_run_mb": children_before,
        "check": "ok" if success else "dagster run failed",
        "pid": os.getpid(),
    }


def main() -> None:
    """Parse the command line, run once and write the result file."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--project", required=True, type=Path)
    parser.add_argument("--mode", required=True, choices=["in_process", "multiprocess"])
    parser.add_argument("--result", required=True)
    parser.add_argument("--profile", default=None, help="write cProfile stats of the execution")
    args = parser.parse_args()
    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
    write_result(args.result, run_once(args.project, args.mode, args.profile))


if __name__ == "__main__":
    main()
