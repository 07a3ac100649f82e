"""The Celery application workers run: one task, ``kedro_dagster_runner.run_node``.

Start workers with the plugin command (reads broker, backend and queues from dagster.yml)::

    kedro dagster-runner celery-worker --env dev

or with Celery's own CLI, the connection given by environment variables::

    KEDRO_DAGSTER_CELERY_BROKER=redis://127.0.0.1:6379/0 \\
    KEDRO_DAGSTER_CELERY_BACKEND=redis://127.0.0.1:6379/1 \\
    celery -A kedro_dagster_runner.executors.celery_app worker -Q kedro
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery

TASK_NAME = "kedro_dagster_runner.run_node"
BROKER_ENV = "KEDRO_DAGSTER_CELERY_BROKER"
BACKEND_ENV = "KEDRO_DAGSTER_CELERY_BACKEND"


def run_node_task(store_uri: str, op_name: str) -> dict[str, Any]:
    """Run one node of the run published at ``store_uri``; the outcome as JSON-able data."""
    from kedro_dagster_runner.workers.step import run_published_step

    return run_published_step(store_uri, op_name).to_json_dict()


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
