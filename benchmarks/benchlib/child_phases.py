"""Benchmark child: where the fixed cost of one small run goes, phase by phase.

Usage (``PYTHONPATH=benchmarks``)::

    python -m benchlib.child_phases --project DIR --runner ID --result FILE

In a fresh interpreter, times in order: importing Kedro and creating the session (the same for
every runner), importing the runner's module, then, for DagsterRunner's serial executors,
``import dagster`` and the instance storage packages Dagster imports whatever storage it is given
(SQLAlchemy, alembic), with the garbage collector paused as the runner pauses it, and finally
``session.run``, which is left with what is not an import: the run spec, the job, the instance
and run records and the nodes themselves. Under ``multiprocess`` the imports stay inside
``session.run`` (see :data:`OVERLAPPED`). Each phase also records the time the collector took
in it. The parent runs it for SequentialRunner and for DagsterRunner's executors on the 10-node
chain and prints the phases side by side, so a regression in any one of them shows.
"""

from __future__ import annotations

import argparse
import gc
import os
import time
from contextlib import ExitStack
from pathlib import Path

from benchlib.child_kedro import RUNNERS, check_outputs, make_runner
from benchlib.measure import reap_children, stop_forkserver, write_result

OVERLAPPED = frozenset({"kdr:multiprocess"})
"""Runners whose pool starts before the driver imports Dagster, so the two overlap: importing
Dagster first would serialise them, so their imports are left inside ``session.run``."""


class Phases:
    """Consecutive timed phases of one process, in the order they ran, each with the time
    Python's garbage collector took during it."""

    def __init__(self) -> None:
        self.seconds: list[tuple[str, float, float]] = []
        self._last = time.perf_counter()
        self._collecting_since = 0.0
        self._collected = 0.0
        gc.callbacks.append(self._on_collection)

    def _on_collection(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._collecting_since = time.perf_counter()
        else:
            self._collected += time.perf_counter() - self._collecting_since

    def mark(self, name: str) -> None:
        """Close the phase ``name``: the time since the previous mark, and the collector's."""
        now = time.perf_counter()
        self.seconds.append((name, now - self._last, self._collected))
        self._last = now
        self._collected = 0.0


def run_once(project_path: Path, runner_id: str) -> dict[str, object]:
    """Time each phase of one run of ``runner_id`` on the project."""
    import importlib

    phases = Phases()
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(project_path)
    session = KedroSession.create(project_path=project_path)
    phases.mark("import Kedro, bootstrap, create the session")
    runner = make_runner(runner_id)
    phases.mark("import the runner")
    overlapped = runner_id in OVERLAPPED
    with ExitStack() as pause:
        if runner_id.startswith("kdr:") and not overlapped:
            # as the runner imports them: with the collector paused from here until the run
            # freezes what is alive (driver/collector.py), so the pause spans session.run too
            from kedro_dagster_runner import _compat
            from kedro_dagster_runner.driver import collector

            pause.enter_context(collector.paused_for_imports())
            importlib.import_module("dagster")
            phases.mark("import dagster")
            _compat.import_instance_storage()
            phases.mark("import Dagster's instance storage (SQLAlchemy, alembic)")
        with session:
            outputs = session.run(runner=runner)
    phases.mark(
        "session.run: imports of Dagster and its storage, spec, job, instance, run, nodes, "
        "while the pool starts"
        if overlapped
        else "session.run (spec, job, instance, run, pool, nodes)"
    )
    check = check_outputs(outputs, project_path)
    del outputs
    reap_children()
    stop_forkserver()
    # [phase, seconds, collector seconds], in the order the phases ran
    return {"phases_s": phases.seconds, "check": check, "pid": os.getpid()}


def main() -> None:
    """Parse the command line, run once and write the result file."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--project", required=True, type=Path)
    parser.add_argument("--runner", required=True, choices=sorted(RUNNERS))
    parser.add_argument("--result", required=True)
    args = parser.parse_args()
    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
    write_result(args.result, run_once(args.project, args.runner))


if __name__ == "__main__":
    main()
