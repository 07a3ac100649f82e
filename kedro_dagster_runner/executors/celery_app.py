"""The Celery application workers run: one task, ``kedro_dagster_runner.run_node``.

Start workers with the plugin command (reads broker, backend and queues from dagster.yml)::

    kedro dagster-runner celery-worker --env dev

or with Celery's own CLI, the connection given by environment variables::

    KEDRO_DAGSTER_CELERY_BROKER=redis://127.0.0.1:6379/0 \\
    KEDRO_DAGSTER_CELERY_BACKEND=redis://127.0.0.1:6379/1 \\
    celery -A kedro_dagster_runner.executors.celery_app worker -Q kedro

(``KEDRO_DAGSTER_CELERY_VISIBILITY_TIMEOUT`` sets the Redis visibility timeout there.)

Tasks are acknowledged late (after the node ran), so a task whose worker dies is delivered again
by the broker: RabbitMQ at once, Redis after its visibility timeout. The run's step lease keeps a
redelivered node from running a second time (it is dropped while its first delivery may still
report), and a node of a run that has ended is refused.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, Task
from celery.exceptions import Ignore

from kedro_dagster_runner.executors.celery import DEFAULT_VISIBILITY_TIMEOUT

TASK_NAME = "kedro_dagster_runner.run_node"
BROKER_ENV = "KEDRO_DAGSTER_CELERY_BROKER"
BACKEND_ENV = "KEDRO_DAGSTER_CELERY_BACKEND"
VISIBILITY_TIMEOUT_ENV = "KEDRO_DAGSTER_CELERY_VISIBILITY_TIMEOUT"


def run_node_task(task: Task, store_uri: str, op_name: str) -> dict[str, Any]:
    """Run one node of the run published at ``store_uri``; the outcome as JSON-able data.

    A redelivered task whose first delivery has not finished is dropped (``Ignore``: no result
    is stored, and its state names the first delivery's worker again, so that worker's result,
    or the driver's lost-worker timeout if it stays silent, decides).
    """
    from kedro_dagster_runner.errors import DuplicateStepError
    from kedro_dagster_runner.workers.step import run_published_step

    try:
        return run_published_step(store_uri, op_name, worker=task.request.hostname).to_json_dict()
    except DuplicateStepError as duplicate:
        # The task's state says STARTED on this worker (task_track_started): give it back to
        # the first delivery's worker, whose silence the driver watches.
        task.update_state(state="STARTED", meta={"hostname": duplicate.first_worker})
        raise Ignore() from None


def make_app(
    broker: str | None,
    backend: str | None,
    default_queue: str = "kedro",
    visibility_timeout: float = DEFAULT_VISIBILITY_TIMEOUT,
) -> Celery:
    """A Celery app with the task registered and the settings driver and workers rely on.

    ``visibility_timeout``: seconds before Redis delivers an unacknowledged task again (it must
    exceed the longest node; RabbitMQ redelivers when the consumer's connection drops instead).
    """
    application = Celery("kedro_dagster_runner", broker=broker, backend=backend)
    application.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_track_started=True,  # the driver sees which worker runs a node (lost workers)
        broker_transport_options={"visibility_timeout": visibility_timeout},
        worker_prefetch_multiplier=1,
        task_default_queue=default_queue,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,  # keep the project's (Kedro's) logging config
        worker_redirect_stdouts=False,
    )
    application.task(name=TASK_NAME, bind=True)(run_node_task)
    return application


app = make_app(
    os.environ.get(BROKER_ENV),
    os.environ.get(BACKEND_ENV),
    visibility_timeout=float(os.environ.get(VISIBILITY_TIMEOUT_ENV) or DEFAULT_VISIBILITY_TIMEOUT),
)
