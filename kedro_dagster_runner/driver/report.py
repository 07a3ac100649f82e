"""How a failed run ends ``kedro run``: the exception, built from the run store's failure records.

The first failed node's :class:`~kedro_dagster_runner.workers.outcome.NodeFailure` (recorded in
the run's store by the process that ran it) becomes a :class:`NodeFailedError` chained to the
node's own exception; when the node ran elsewhere, the message carries that process's traceback.
A step that left no record (its process died under one of Dagster's own executors) is described
from Dagster's text of the step's error. A run that failed without a failed node raises
:class:`DagsterRunnerError` with its status and the engine's errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kedro_dagster_runner.errors import DagsterRunnerError, NodeFailedError
from kedro_dagster_runner.workers.outcome import NodeFailure

if TYPE_CHECKING:
    from kedro_dagster_runner.driver.progress import RunProgress
    from kedro_dagster_runner.spec import RunSpec
    from kedro_dagster_runner.workers.store import RunStore


def run_error(
    spec: RunSpec,
    progress: RunProgress,
    store: RunStore,
    status: str,
    run_failure: str | None,
) -> DagsterRunnerError:
    """The exception ``kedro run`` ends with after a failed Dagster run."""
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


def _node_error(spec: RunSpec, progress: RunProgress, store: RunStore) -> NodeFailedError:
    op_name = progress.failed[0]
    node = spec.node_by_op[op_name]
    failure = _recorded_failure(op_name, progress, store)
    original = failure.stand_in()
    message = f"Node '{node.name}' failed: {type(original).__name__}: {original}"
    if failure.traceback and not failure.ran_here():
        message += (
            f"\nThe node ran in process {failure.pid} on {failure.host}; its traceback:\n"
            f"{failure.traceback}"
        )
    others = [spec.node_by_op[op].name for op in progress.failed[1:]]
    if others:
        message += f"\nThese nodes failed too: {', '.join(others)}"
    error = NodeFailedError(node.name, message, original)
    error.__cause__ = original
    return error
