"""Run by tests/test_collector.py in a fresh interpreter (Dagster not imported yet): runs
DagsterRunner from plain Python and prints, as JSON, the garbage collector's state seen by the
nodes and left after each run. Not a test module itself (no ``test_`` prefix)."""

from __future__ import annotations

import gc
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline, node

from kedro_dagster_runner import DagsterRunner
from kedro_dagster_runner.errors import ConfigError


def collector_state(seed: int) -> dict[str, Any]:
    """A node: the collector as the process running it sees it."""
    return {
        "enabled": gc.isenabled(),
        "frozen": gc.get_freeze_count(),
        "pid": os.getpid(),
        "seed": seed,
    }


def _state() -> dict[str, Any]:
    return {"enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}


def _run(**runner_params: Any) -> dict[str, Any]:
    pipeline = Pipeline([node(collector_state, "seed", "state", name="probe")])
    outputs = DagsterRunner(**runner_params).run(pipeline, DataCatalog({"seed": MemoryDataset(7)}))
    return {"node": outputs["state"].load(), "after": _state()}


def multiprocess_first() -> dict[str, Any]:
    """A refused configuration, then a multiprocess run, then an in-process run."""
    report: dict[str, Any] = {"driver_pid": os.getpid()}
    try:
        DagsterRunner(executor="no_such_kind").run(
            Pipeline([node(collector_state, "seed", "state", name="probe")]),
            DataCatalog({"seed": MemoryDataset(7)}),
        )
    except ConfigError:
        report["refused"] = _state()
    report["multiprocess"] = _run(executor="multiprocess", start_method="fork")
    report["in_process"] = _run(executor="in_process")
    return report


def in_process_first() -> dict[str, Any]:
    """An in-process run, then the process freezes objects itself, then another run."""
    report: dict[str, Any] = {"driver_pid": os.getpid(), "first": _run(executor="in_process")}
    gc.freeze()
    report["frozen_by_process"] = gc.get_freeze_count()
    report["second"] = _run(executor="in_process")
    return report


def collector_off() -> dict[str, Any]:
    """A process that turned its collector off."""
    gc.disable()
    return {"in_process": _run(executor="in_process")}


def objects_frozen() -> dict[str, Any]:
    """A process that froze objects itself."""
    gc.freeze()
    return {"frozen_before": gc.get_freeze_count(), "in_process": _run(executor="in_process")}


SCENARIOS: dict[str, Callable[[], dict[str, Any]]] = {
    "multiprocess_first": multiprocess_first,
    "in_process_first": in_process_first,
    "collector_off": collector_off,
    "objects_frozen": objects_frozen,
}

if __name__ == "__main__":
    print(json.dumps(SCENARIOS[sys.argv[1]]()))
