"""A run-status hook for the ``training_failed`` sensor of conf/base/dagster.yml."""

from __future__ import annotations

import logging

from kedro_dagster_runner.ui.sensors import RunStatusEvent

logger = logging.getLogger(__name__)


def log_failure(event: RunStatusEvent) -> None:
    """Log the failed run; a real project would page someone or post to a chat here."""
    logger.warning(
        "Dagster run %s of job %s (Kedro run %s) failed: %s",
        event.dagster_run_id,
        event.job_name,
        event.kedro_run_id,
        event.failure_message,
    )
