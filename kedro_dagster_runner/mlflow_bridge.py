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
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit


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
    if urlsplit(uri).password is not None or "@" in urlsplit(uri).netloc:
        uri = None
    return run.info.run_id, uri


@contextmanager
def attached(run_id: str | None, tracking_uri: str | None) -> Iterator[None]:
    """Make MLflow run ``run_id`` the active run of this thread for the ``with`` block.

    A no-op without ``run_id`` or when that run is already active here. Afterwards the run is
    taken off this thread's stack without being ended (its status stays RUNNING for the driver
    to set).
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
    mlflow.start_run(run_id=run_id, nested=active is not None)
    try:
        yield
    finally:
        _detach(run_id)


def _detach(run_id: str) -> None:
    """Pop ``run_id`` off this thread's active-run stack without terminating it.

    ``mlflow.end_run`` would mark the run FINISHED (and the driver's later FAILED could race
    with it); MLflow has no public "leave the run open" call, so the fluent API's stack is used
    (a thread-local variable in MLflow 3, a plain list before). Never raises: failing here must
    not turn a node's outcome into another.
    """
    try:
        from mlflow.tracking import fluent

        holder = fluent._active_run_stack
        stack = holder.get() if hasattr(holder, "get") else holder
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
