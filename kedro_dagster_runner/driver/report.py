"""How a failed run ends ``kedro run``: the exception, built from the run store's failure records.

As under Kedro's runners, the caller gets the first failed node's own exception (the object
itself when the node ran in this process; unpickled from the run's store when it ran elsewhere,
with a note naming the node, the process and its traceback there), so ``except KeyError`` around
``session.run`` and ``on_pipeline_error`` see what they would see under ``SequentialRunner``.
Only an exception that cannot be rebuilt here (it does not unpickle, or its worker died before
reporting under one of Dagster's own executors) becomes a :class:`NodeFailedError` chained to a
:class:`~kedro_dagster_runner.errors.RemoteNodeError` with its class and message. A run that
failed without a failed node raises :class:`DagsterRunnerError` with its status and the engine's
errors.
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
    node = spec.node_by_op[op_name]
    failure = _recorded_failure(op_name, progress, store)
    others = [spec.node_by_op[op].name for op in progress.failed[1:]]
    error = failure.exception
    if error is None:  # it could not travel back: a stand-in naming its class and message
        original = failure.stand_in()
        error = NodeFailedError(
            node.name, f"Node '{node.name}' failed: {type(original).__name__}: {original}", original
        )
        error.__cause__ = original
    if failure.traceback and not failure.ran_here():
        add_note(
            error,
            f"Raised by node '{node.name}' in process {failure.pid} on {failure.host}; its "
            f"traceback there:\n{failure.traceback.rstrip()}",
        )
    if others:
        add_note(error, f"These nodes failed too: {', '.join(others)}")
    return error


def add_note(error: BaseException, note: str) -> None:
    """``error.add_note(note)`` (Python 3.11+), or the same ``__notes__`` list before it."""
    if hasattr(error, "add_note"):
        error.add_note(note)
    else:  # Python 3.10: kept for code that reads __notes__
        notes = getattr(error, "__notes__", None) or []
        error.__notes__ = [*notes, note]  # type: ignore[attr-defined]
