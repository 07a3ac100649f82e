"""How a failed run ends ``kedro run``: the exception, built from the run store's failure records.

As under Kedro's runners, the caller gets the first failed node's own exception, so
``except KeyError`` around ``session.run`` and ``on_pipeline_error`` see what they would see under
``SequentialRunner``: the object itself when the node ran in this process; otherwise the one
rebuilt from the run's store, caused by a :class:`~kedro_dagster_runner.errors.RemoteTraceback`
naming the node, the process and its traceback there (as ``concurrent.futures`` presents a
worker's error under ParallelRunner). Only an exception that cannot be rebuilt here (its class is
not importable, or its worker died before reporting under one of Dagster's own executors) becomes
a :class:`NodeFailedError` chained to a :class:`~kedro_dagster_runner.errors.RemoteNodeError`
with its class and message. A run that failed without a failed node raises
:class:`DagsterRunnerError` with its status and the engine's errors.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from kedro_dagster_runner.errors import DagsterRunnerError, NodeFailedError, RemoteTraceback
from kedro_dagster_runner.workers.outcome import NodeFailure

if TYPE_CHECKING:
    from kedro_dagster_runner.driver.progress import RunProgress
    from kedro_dagster_runner.spec import RunSpec
    from kedro_dagster_runner.workers.store import RunStore

_LOGGER = logging.getLogger("kedro_dagster_runner")


def run_error(
    spec: RunSpec,
    progress: RunProgress,
    store: RunStore,
    status: str,
    run_failure: str | None,
) -> BaseException:
    """The exception ``kedro run`` ends with after a failed Dagster run: the failed node's own
    exception, as under Kedro's runners (see the module docstring)."""
    if progress.failed:
        return _node_error(spec, progress, store)
    details = list(progress.engine_errors)
    if progress.unfinished():
        details.append(f"Nodes still running then: {', '.join(progress.unfinished())}")
    return DagsterRunnerError(
        "\n".join(
            [
                f"Dagster run of job '{spec.job_name}' ended with status {status}: "
                f"{run_failure or 'no node failed'}",
                *details,
            ]
        )
    )


def _recorded_failure(op_name: str, progress: RunProgress, store: RunStore) -> NodeFailure:
    failure = store.failure(op_name)
    if failure is not None:
        return failure
    text = progress.errors.get(op_name, "unknown")
    return NodeFailure(op_name, "UnknownError", text, traceback="", pid=0, host="")


def _node_error(spec: RunSpec, progress: RunProgress, store: RunStore) -> BaseException:
    op_name = progress.failed[0]
    op = spec.node_by_op[op_name]
    failure = _recorded_failure(op_name, progress, store)
    # the node that raised: in a group, the one the failure names
    node_name = failure.node_name or op.name
    named = f"Node '{node_name}' of group '{op.name}'" if op.members else f"Node '{op.label}'"
    others = [spec.node_by_op[name].label for name in progress.failed[1:]]
    if others:
        _LOGGER.warning("These nodes failed too: %s", ", ".join(others))
    remote = None
    if failure.traceback and not failure.ran_here():
        # As concurrent.futures does for ParallelRunner: the worker's traceback is the cause,
        # printed above the exception, whose own line stays the last one.
        remote = RemoteTraceback(
            f"{named} raised in process {failure.pid} on {failure.host}:\n"
            f"{failure.traceback.rstrip()}"
        )
    error = failure.exception
    if error is None:  # it could not travel back: a stand-in naming its class and message
        original = failure.stand_in()
        original.__cause__ = remote
        error = NodeFailedError(
            node_name,
            f"Node '{node_name}' failed: {failure.short_class}: {failure.message}",
            original,
        )
        error.__cause__ = original
    elif remote is not None and error.__cause__ is None:
        error.__cause__ = remote
    return error
