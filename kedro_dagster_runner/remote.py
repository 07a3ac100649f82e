"""Helpers for workers that only receive the handoff store's URI and an op name (dask, celery)."""

from __future__ import annotations

from functools import lru_cache

from kedro_dagster_runner.handoff import HandoffStore
from kedro_dagster_runner.launchers import StepOutcome, run_step
from kedro_dagster_runner.spec import RunSpec


@lru_cache(maxsize=8)
def spec_at(handoff_uri: str) -> RunSpec:
    """The run spec the driver published in the store (read once per worker process)."""
    return RunSpec.from_json(HandoffStore(handoff_uri).read_spec())


def run_remote_step(handoff_uri: str, op_name: str) -> StepOutcome:
    """Entry point of a distributed worker: run one node of the run published at the URI."""
    import os

    os.environ["KEDRO_DISABLE_TELEMETRY"] = "true"
    return run_step(spec_at(handoff_uri), op_name)
