"""A step's outcome as Dagster records: the one place asset events and node logs are written.

Both executor paths use it: the op of Dagster's stock executors (:func:`kedro_dagster_runner.job`)
yields :func:`asset_records` and writes :func:`write_node_logs` through the op's context; the
package's own orchestrator (:mod:`kedro_dagster_runner.executors.kedro_executor`) wraps the same
records in events of the step.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from kedro_dagster_runner import _compat
from kedro_dagster_runner.naming import asset_key_path

if TYPE_CHECKING:
    from dagster import AssetMaterialization, AssetObservation

    from kedro_dagster_runner.workers.outcome import StepOutcome


def asset_records(outcome: StepOutcome) -> list[AssetObservation | AssetMaterialization]:
    """Observations of the persisted inputs, then materializations of the persisted outputs
    (one per partition the op read or wrote, for one partition of a fanned-out node)."""
    from dagster import AssetKey, AssetMaterialization, AssetObservation

    records: list[AssetObservation | AssetMaterialization] = [
        AssetObservation(AssetKey(asset_key_path(name)), metadata=metadata, partition=partition)
        for name, metadata in outcome.observed.items()
        for partition in outcome.partitions.get(name, [None])
    ]
    records += [
        AssetMaterialization(AssetKey(asset_key_path(name)), metadata=metadata, partition=partition)
        for name, metadata in outcome.materialized.items()
        for partition in outcome.partitions.get(name, [None])
    ]
    return records


def write_node_logs(log_manager: logging.Logger, outcome: StepOutcome) -> None:
    """Write the records node code logged to the run's event log, attributed to the step (not
    to the run's console: the node's process printed them already)."""
    for level, message in outcome.logs:
        _compat.log_to_event_log(log_manager, level, message)
