"""A step's outcome as Dagster records: the one place asset events and node logs are written.

Both executor paths use it: the op of Dagster's stock executors (:func:`kedro_dagster_runner.job`)
yields :func:`asset_records` and :func:`check_evaluations` and writes :func:`write_node_logs`
through the op's context; the package's own orchestrator
(:mod:`kedro_dagster_runner.executors.kedro_executor`) wraps the same records in events of the
step.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from kedro_dagster_runner import _compat
from kedro_dagster_runner.naming import asset_key_path

if TYPE_CHECKING:
    from dagster import AssetCheckEvaluation, AssetMaterialization, AssetObservation

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


def check_evaluations(outcome: StepOutcome) -> list[AssetCheckEvaluation]:
    """The asset check evaluations of what the datasets' Kedro validators said during the step
    (:mod:`kedro_dagster_runner.workers.validation_checks`), in the order they ran."""
    from dagster import AssetCheckEvaluation, AssetCheckSeverity, AssetKey

    from kedro_dagster_runner.workers.validation_checks import CHECK_NAME

    return [
        AssetCheckEvaluation(
            asset_key=AssetKey(asset_key_path(check.dataset)),
            check_name=CHECK_NAME,
            passed=check.passed,
            severity=AssetCheckSeverity.WARN
            if check.severity == "warn"
            else AssetCheckSeverity.ERROR,
            description=f"Kedro validator {check.validator} on {check.mode}",
            metadata={
                "kedro/dataset": check.dataset,
                "kedro/mode": check.mode,
                "kedro/validator": check.validator,
                **({"message": check.message} if check.message else {}),
            },
            partition=partition,
        )
        for check in outcome.checks
        for partition in outcome.partitions.get(check.dataset, [None])
    ]


def write_node_logs(log_manager: logging.Logger, outcome: StepOutcome) -> None:
    """Write the records node code logged to the run's event log, attributed to the step (not
    to the run's console: the node's process printed them already)."""
    for level, message in outcome.logs:
        _compat.log_to_event_log(log_manager, level, message)
