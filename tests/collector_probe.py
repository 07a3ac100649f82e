"""Run by tests/test_collector.py in a fresh interpreter (Dagster not imported yet): runs
DagsterRunner from plain Python and prints, as JSON, the garbage collector's state seen by the
nodes and left after each run. Not a test module itself (no ``test_`` prefix)."""

from __future__ import annotations

import gc
import json
import os
import sys
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


def _run(**runner_params: Any) -> dict[str, Any]:
    pipeline = Pipeline([node(collector_state, "seed", "state", name="probe")])
    outputs = DagsterRunner(**runner_params).run(pipeline, DataCatalog({"seed": MemoryDataset(7)}))
    return {
        "node": outputs["state"].load(),
        "after": {"enabled": gc.isenabled(), "frozen": gc.get_freeze_count()},
    }


def fresh_process() -> dict[str, Any]:
    """A refused configuration, then a multiprocess run, then an in-process run."""
    report: dict[str, Any] = {"driver_pid": os.getpid()}
    try:
        DagsterRunner(executor="no_such_kind").run(
            Pipeline([node(collector_state, "seed", "state", name="probe")]),
            DataCatalog({"seed": MemoryDataset(7)}),
        )
    except ConfigError:
        report["refused"] = {"enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}
    report["multiprocess"] = _run(executor="multiprocess", start_method="fork")
    report["in_process"] = _run(executor="in_process")
    return report


def owned_collector() -> dict[str, Any]:
    """A process that froze objects and turned its collector off itself."""
    gc.freeze()
    gc.disable()
    frozen_before = gc.get_freeze_count()
    return {"frozen_before": frozen_before, "in_process": _run(executor="in_process")}


if __name__ == "__main__":
    scenario = {"fresh": fresh_process, "owned": owned_collector}[sys.argv[1]]
    print(json.dumps(scenario()))
