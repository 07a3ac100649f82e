"""One MLflow run per Kedro run, wherever the nodes run.

kedro-mlflow starts an MLflow run in the driver's ``before_pipeline_run`` and ends it in
``after_pipeline_run`` / ``on_pipeline_error``. MLflow keeps the active run per thread of one
process, so a node running in a worker process (pool, dask, Celery, container) would log to no run
or start a run of its own. The driver therefore puts the id of its active run in the run spec
(:func:`driver_run`), and workers make that run the active one around each node (:func:`attached`):
kedro-mlflow's parameter logging in ``before_node_run``, its datasets (metrics, artifacts, models)
and ``mlflow.log_*`` calls in node code all land in the driver's run. Workers never end the run;
the driver's hooks set its final status.

MLflow is optional: nothing here imports it unless the driver had it imported with an active run.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from kedro_dagster_runner import _compat

if TYPE_CHECKING:
    from mlflow.entities import Run


def driver_run() -> tuple[str | None, str | None]:
    """``(run id, tracking URI)`` of the MLflow run active in this thread, or ``(None, None)``.

    The tracking URI is left out (``None``) when it carries credentials: workers then rely on
    their own configuration (kedro-mlflow's mlflow.yml, ``MLFLOW_TRACKING_URI``).
    """
    mlflow = sys.modules.get("mlflow")
    if mlflow is None:
        return None, None
    run = mlflow.active_run()
    if run is None:
        return None, None
    uri = mlflow.get_tracking_uri()
    return run.info.run_id, None if "@" in urlsplit(uri).netloc else uri  # user:password@host


@contextmanager
def attached(run_id: str | None, tracking_uri: str | None) -> Iterator[None]:
    """Make MLflow run ``run_id`` the active run of this thread for the ``with`` block.

    A no-op without ``run_id`` or when that run is already active here. The run is put on this
    thread's active-run stack as it is, without ``mlflow.start_run``: that would rewrite the run's
    status on every node (the file store rewrites ``meta.yaml`` in place, which concurrent
    workers may read half-written) and register an exit handler that ends the run when the
    worker process exits. Afterwards the run is taken off the stack, not ended: the driver's
    hooks (or, for a detached run nobody follows, the run itself) set its final status.
    """
    if not run_id:
        yield
        return
    import mlflow

    if tracking_uri and mlflow.get_tracking_uri() != tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    active = mlflow.active_run()
    if active is not None and active.info.run_id == run_id:
        yield
        return
    _compat.mlflow_active_run_stack().append(mlflow.ActiveRun(_run(run_id, tracking_uri)))
    try:
        yield
    finally:
        _detach(run_id)


_RUNS: dict[str, Run] = {}  # run id -> mlflow Run, fetched once per process
_FETCH_ATTEMPTS = 5


def _run(run_id: str, tracking_uri: str | None) -> Run:
    """The ``Run`` of ``run_id``; read once per process, retried a few times because a file
    store being written by other workers can briefly show a half-created metric file."""
    run = _RUNS.get(run_id)
    if run is not None:
        return run
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri) if tracking_uri else MlflowClient()
    for attempt in range(1, _FETCH_ATTEMPTS + 1):
        try:
            run = client.get_run(run_id)
            break
        except Exception:
            if attempt == _FETCH_ATTEMPTS:
                raise
            time.sleep(0.2 * attempt)
    _RUNS[run_id] = run
    return run


def _detach(run_id: str) -> None:
    """Pop ``run_id`` off this thread's active-run stack without terminating it.

    Never raises: failing here must not turn a node's outcome into another.
    """
    try:
        stack = _compat.mlflow_active_run_stack()
        if stack and stack[-1].info.run_id == run_id:
            stack.pop()
    except Exception as error:
        logging.getLogger(__name__).warning("Could not leave MLflow run %s: %s", run_id, error)


def finish(run_id: str | None, tracking_uri: str | None, failed: bool) -> None:
    """Set the final status of MLflow run ``run_id`` (a detached run nobody follows ends it).

    Never raises: the Dagster run's outcome does not depend on MLflow.
    """
    if not run_id:
        return
    try:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri) if tracking_uri else MlflowClient()
        client.set_terminated(run_id, "FAILED" if failed else "FINISHED")
    except Exception as error:
        logging.getLogger(__name__).warning("Could not end MLflow run %s: %s", run_id, error)
