"""The Celery application workers run: one task, ``kedro_dagster_runner.run_node``.

Start workers with the plugin command (reads broker, backend and queues from dagster.yml)::

    kedro dagster-runner celery-worker --env dev

or with Celery's own CLI, the connection given by environment variables::

    KEDRO_DAGSTER_CELERY_BROKER=redis://127.0.0.1:6379/0 \\
    KEDRO_DAGSTER_CELERY_BACKEND=redis://127.0.0.1:6379/1 \\
    celery -A kedro_dagster_runner.celery_app worker -Q kedro
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery

TASK_NAME = "kedro_dagster_runner.run_node"
BROKER_ENV = "KEDRO_DAGSTER_CELERY_BROKER"
BACKEND_ENV = "KEDRO_DAGSTER_CELERY_BACKEND"


def run_node_task(handoff_uri: str, op_name: str) -> dict[str, Any]:
    """Run one node of the run published at ``handoff_uri``; the outcome as JSON-able data."""
    from dagster._serdes import serialize_value

    from kedro_dagster_runner.remote import run_remote_step

    outcome = run_remote_step(handoff_uri, op_name)
    return {
        "op_name": outcome.op_name,
        "duration_ms": outcome.duration_ms,
        "error": serialize_value(outcome.error) if outcome.error is not None else None,
        "materialized": outcome.materialized,
        "observed": outcome.observed,
        "logs": outcome.logs,
    }


def make_app(broker: str | None, backend: str | None, default_queue: str = "kedro") -> Celery:
    """A Celery app with the task registered and the settings driver and workers rely on."""
    application = Celery("kedro_dagster_runner", broker=broker, backend=backend)
    application.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        worker_prefetch_multiplier=1,
        task_default_queue=default_queue,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,  # keep the project's (Kedro's) logging config
        worker_redirect_stdouts=False,
    )
    application.task(name=TASK_NAME)(run_node_task)
    return application


app = make_app(os.environ.get(BROKER_ENV), os.environ.get(BACKEND_ENV))
