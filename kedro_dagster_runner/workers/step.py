"""Running one node, in any process: the one entry point every executor path calls.

:func:`run_step` runs the node behind an op through Kedro's own :class:`kedro.runner.Task` (so
``before_node_run``, ``after_node_run``, ``on_node_error`` and the dataset hooks fire in the process
running the node), collects the records node code logged and the metadata of the persisted
datasets it touched, and on failure records a :class:`NodeFailure` in the run's store. It never
raises for a node's error: the caller turns the outcome into Dagster events
(:mod:`kedro_dagster_runner.workers.records`).

:func:`run_published_step` is the entry of workers that get only the store's URI and an op name
(pool processes, dask and Celery tasks). It refuses a node of a run that has ended, and a node
delivered a second time (see the step leases of :mod:`~kedro_dagster_runner.workers.store`).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING

from kedro_dagster_runner.errors import DuplicateStepError, RunEndedError
from kedro_dagster_runner.logging import capture
from kedro_dagster_runner.mlflow_bridge import attached
from kedro_dagster_runner.spec import NodeSpec, RunSpec
from kedro_dagster_runner.workers.dataset_metadata import node_asset_metadata
from kedro_dagster_runner.workers.outcome import NodeFailure, StepOutcome
from kedro_dagster_runner.workers.runtime import runtime_for, spec_at
from kedro_dagster_runner.workers.store import RunStore, open_store
from kedro_dagster_runner.workers.validation_checks import (
    ValidationResult,
    recorded_validations,
)

if TYPE_CHECKING:
    from kedro.io import CatalogProtocol
    from kedro.pipeline.node import Node

_LOGGER = logging.getLogger(__name__)
_WHERE = " (host "
"""Starts the host and pid that follow the worker's description in a step's claim."""


def run_step(spec: RunSpec, op_name: str) -> StepOutcome:
    """Run the node of ``op_name`` in this process and report how it went (never raises for the
    node's own errors; the failure is also recorded in the run's store).

    The op of a node group runs its nodes one after the other, in Kedro's order; the first
    failing node fails the step (the failure names it) and the nodes after it do not run.
    """
    from kedro.runner.task import Task

    node_spec = spec.node_by_op[op_name]
    persisted = set(spec.persisted_datasets)  # the datasets that are assets
    started = time.perf_counter()
    running: str | None = None
    checks: list[ValidationResult] = []
    with capture() as logs:
        try:
            runtime = runtime_for(spec)
            nodes = [runtime.nodes[name] for name in node_spec.node_names]
            if node_spec.partition_key is not None:  # imported only by partitioned runs
                from kedro_dagster_runner.partitions.scope import scoped_node

                nodes = [scoped_node(nodes[0], node_spec, node_spec.partitioned_outputs)]
            store = open_store(spec.handoff_uri) if not runtime.live and spec.handoff_uri else None
            releases = _in_step_releases(spec, nodes) if store is not None else {}
            if store is not None:  # the context may have taken a while
                store.refuse_if_ended(f"step '{op_name}'")
            # The driver's thread already has its MLflow run; other processes join it per node.
            mlflow_run_id = None if runtime.live else spec.mlflow_run_id
            read = {name for node in nodes for name in node.inputs}
            written = {name for node in nodes for name in node.outputs}
            with (
                attached(mlflow_run_id, spec.mlflow_tracking_uri),
                recorded_validations(runtime.catalog, read, written) as checks,
                _released_on_failure(runtime.catalog, releases),
            ):
                for index, node in enumerate(nodes):
                    running = node.name
                    if store is not None and index:  # the node before took a while
                        store.refuse_if_ended(f"step '{op_name}'")
                    Task(
                        node=node,
                        catalog=runtime.catalog,
                        hook_manager=runtime.hook_manager,
                        is_async=spec.is_async,
                        run_id=spec.run_id,
                    ).execute()
                    for name in releases.get(node.name, ()):
                        runtime.catalog.release(name)
            materialized, observed = node_asset_metadata(
                runtime.catalog, node_spec.inputs, node_spec.outputs, persisted
            )
        except Exception as error:
            failure = NodeFailure.from_exception(
                op_name, error, running if node_spec.members else None
            )
            # a refused save reaches here wrapped by Kedro (DatasetError from RunEndedError)
            if isinstance(error, RunEndedError) or isinstance(error.__cause__, RunEndedError):
                _LOGGER.warning("%s", error)  # nobody is left to read a record
            else:
                record_failure(spec, failure)
            elapsed = (time.perf_counter() - started) * 1000
            checks = [check for check in checks if check.dataset in persisted]
            return StepOutcome(op_name, elapsed, failure, logs=list(logs), checks=checks)
    elapsed = (time.perf_counter() - started) * 1000
    return StepOutcome(
        op_name,
        elapsed,
        materialized=materialized,
        observed=observed,
        logs=list(logs),
        partitions=_partitions_touched(node_spec),
        checks=[check for check in checks if check.dataset in persisted],
    )


@contextmanager
def _released_on_failure(
    catalog: CatalogProtocol, releases: dict[str, list[str]]
) -> Iterator[None]:
    """Release a group's in-step datasets when one of its nodes fails: a long-lived worker
    would keep them until it serves another run."""
    try:
        yield
    except BaseException:
        for name in {name for names in releases.values() for name in names}:
            with suppress(Exception):
                catalog.release(name)
        raise


def _in_step_releases(spec: RunSpec, nodes: list[Node]) -> dict[str, list[str]]:
    """Node of a group -> the in-step datasets to release once it ran (after their last user
    in the group), as Kedro's runners release data no pending node needs. The driver releases
    the rest on its own catalog."""
    kept = set(spec.in_step_datasets)
    if len(nodes) < 2 or not kept:
        return {}
    last_user = {name: node.name for node in nodes for name in (*node.inputs, *node.outputs)}
    releases: dict[str, list[str]] = {}
    for name, node_name in last_user.items():
        if name in kept:
            releases.setdefault(node_name, []).append(name)
    return releases


def _partitions_touched(node_spec: NodeSpec) -> dict[str, list[str]]:
    """Dataset -> the partitions the op read or wrote (its asset events are per partition)."""
    if node_spec.partition_key is None:
        return {}
    touched = {name: [node_spec.partition_key] for name in node_spec.partitioned_outputs}
    return {**node_spec.partition_reads, **touched}


def record_failure(spec: RunSpec, failure: NodeFailure, replace: bool = True) -> None:
    """Put ``failure`` in the run's store for the driver (see ``RunStore.record_failure``); a
    store that cannot take it (removed, unreachable) is logged, never raised over the node's own
    error."""
    if not spec.handoff_uri:  # a code-location job: Dagster's event log is the record
        return
    try:
        open_store(spec.handoff_uri).record_failure(failure, replace)
    except Exception as error:
        _LOGGER.warning(
            "Could not record the failure of step '%s' in %s: %s",
            failure.op_name,
            spec.handoff_uri,
            error,
        )


def run_published_step(
    store_uri: str, op_name: str, worker: str | None = None, lease: bool = True
) -> StepOutcome:
    """Entry point of a worker process: run one node of the run published at ``store_uri``.

    Before the node starts: a run that has ended refuses it (logged here, in the worker), and
    with ``lease`` the node is claimed in the run's store. A node already claimed is not run a
    second time: when its first delivery finished, this returns that outcome; otherwise the step
    fails with :class:`~kedro_dagster_runner.errors.DuplicateStepError` naming the worker that
    claimed it (``worker`` describes this one: a dask address, a Celery hostname); the caller
    decides what a duplicate means (dask: the step fails as lost; Celery: the redelivered task
    is dropped while the first one may still report). Executors that never deliver a node
    twice (a process pool) pass ``lease=False``.

    The outcome is :meth:`~StepOutcome.portable` (it crosses back to the orchestrator).
    """
    os.environ["KEDRO_DISABLE_TELEMETRY"] = "true"
    started = time.perf_counter()
    store = open_store(store_uri)
    holder = f"{worker or 'worker'}{_WHERE}{socket.gethostname()}, pid {os.getpid()})"
    try:
        earlier = store.claim_step(op_name, holder) if lease else None
        if not lease:
            store.refuse_if_ended(f"step '{op_name}'")
    except RunEndedError as error:
        _LOGGER.warning("%s", error)
        return _refused(op_name, error, started)
    if earlier is not None:
        return _second_delivery(store, op_name, earlier)
    outcome = run_step(spec_at(store_uri), op_name).portable()
    if lease:
        try:
            store.record_outcome(outcome)
        except RunEndedError as error:
            _LOGGER.warning("%s", error)
    return outcome


def _refused(op_name: str, error: Exception, started: float) -> StepOutcome:
    elapsed = (time.perf_counter() - started) * 1000
    return StepOutcome(op_name, elapsed, NodeFailure.from_exception(op_name, error).portable())


def _second_delivery(store: RunStore, op_name: str, earlier: str) -> StepOutcome:
    """The first outcome of a node delivered again; :class:`DuplicateStepError` when its first
    delivery never finished."""
    finished = store.finished_outcome(op_name)
    if finished is None:
        error = DuplicateStepError(
            f"Step '{op_name}' was delivered a second time while its first delivery, to "
            f"{earlier}, has not finished (that worker was lost, or is still running it). The "
            "node is not run twice.",
            first_worker=earlier.rsplit(_WHERE, 1)[0],
        )
        _LOGGER.warning("%s", error)
        raise error
    _LOGGER.warning(
        "Step '%s' was delivered again after %s ran it; not running it twice (its first "
        "outcome stands).",
        op_name,
        earlier,
    )
    return finished
