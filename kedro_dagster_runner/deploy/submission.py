"""Detached submission: the instance's run launcher starts the run, ``kedro run`` may follow it.

With ``runner.submit: detached`` the driver records the run in the shared instance and hands it to
the instance's run launcher (dagster-docker's ``DockerRunLauncher`` or dagster-k8s's
``K8sRunLauncher``), which starts a run worker (``dagster api execute_run``) in a container or pod.
That worker rebuilds the job from the run spec in the handoff store, runs it on the configured
executor and records every event in the instance. With ``wait: true`` the driver reads those
events back (:func:`follow_run`) to print the same progress lines as an attached run, and ends with
the run's outcome.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kedro_dagster_runner import _compat
from kedro_dagster_runner.errors import ConfigError, LaunchError

if TYPE_CHECKING:
    from dagster import DagsterEvent, DagsterInstance, DagsterRun, EventLogRecord

POLL_SECONDS = 0.5
HEALTH_CHECK_SECONDS = 5.0
# How long a run may stay unfinished after its worker is gone (its last events may be in flight).
DEAD_WORKER_GRACE_SECONDS = 10.0
# How long a launched run may take to start (image pull, pod scheduling) before it is failed.
START_TIMEOUT_SECONDS = 600.0


def check_run_launcher(instance: DagsterInstance) -> None:
    """Refuse launchers that cannot start a run without a code server (Dagster's defaults).

    Raises:
        ConfigError: The ``dagster_home`` instance has no container run launcher configured.
    """
    launcher = instance.run_launcher
    if isinstance(launcher, _compat.DefaultRunLauncher | _compat.SyncInMemoryRunLauncher):
        raise ConfigError(
            "runner.submit: detached needs a run launcher that starts runs in containers, but "
            f"the instance uses {type(launcher).__name__}: set run_launcher in "
            "$DAGSTER_HOME/dagster.yaml to dagster_docker's DockerRunLauncher or dagster_k8s's "
            "K8sRunLauncher, or use runner.instance: {postgres: ...} with runner.launcher."
        )


def launch(instance: DagsterInstance, dagster_run_id: str) -> None:
    """Hand the run to the instance's run launcher.

    Raises:
        LaunchError: The launcher could not start the run worker (the run is marked failed in
            the instance, with the error in its event log).
    """
    try:
        instance.launch_run(dagster_run_id, workspace=None)
    except Exception as error:
        launcher = type(instance.run_launcher).__name__
        raise LaunchError(
            f"{launcher} could not start Dagster run {dagster_run_id}: {error}"
        ) from error


@dataclass
class FollowedRun:
    """How a followed run ended."""

    status: str
    failure_message: str | None = None


def follow_run(
    instance: DagsterInstance,
    dagster_run_id: str,
    on_event: Callable[[DagsterEvent], None],
    logger: logging.Logger,
    poll_seconds: float = POLL_SECONDS,
    start_timeout: float = START_TIMEOUT_SECONDS,
) -> FollowedRun:
    """Read the run's events from the instance until the run finishes.

    Step events go to ``on_event`` (a
    :class:`~kedro_dagster_runner.driver.progress.RunProgress`); log lines written by nodes are
    printed once, as the node logged them. While the run is not
    finished, the run worker's health is checked every few seconds when the launcher can: a
    worker that is gone while its run is unfinished (crashed container, deleted pod), or a run
    that has not started ``start_timeout`` seconds after launch (an image that never pulls, a pod
    that is never scheduled), marks the run failed instead of waiting forever.
    """
    cursor: str | None = None
    failure_message: str | None = None
    watchdog = _Watchdog(instance, logger, start_timeout)
    while True:
        connection = instance.get_records_for_run(dagster_run_id, cursor=cursor, limit=500)
        failure_message = _dispatch(connection.records, on_event, logger) or failure_message
        cursor = connection.cursor
        if connection.has_more:
            continue
        run = instance.get_run_by_id(dagster_run_id)
        if run.is_finished:
            if _drained(instance, dagster_run_id, cursor):
                return FollowedRun(run.status.value, failure_message)
            continue
        problem = watchdog.check(run)
        if problem is not None:
            instance.report_run_failed(run, problem)
            failure_message = problem
        time.sleep(poll_seconds)


def _dispatch(
    records: Sequence[EventLogRecord],
    on_event: Callable[[DagsterEvent], None],
    logger: logging.Logger,
) -> str | None:
    """Hand step events to ``on_event``, print node log lines; return a run failure message."""
    failure_message = None
    for record in records:
        entry = record.event_log_entry
        event = entry.dagster_event
        if event is None:
            if entry.step_key and entry.user_message:
                logger.log(entry.level, entry.user_message)
            continue
        if event.event_type_value in {"RUN_FAILURE", "PIPELINE_FAILURE"}:
            failure_message = event.message
        on_event(event)
    return failure_message


class _Watchdog:
    """Decides when an unfinished run will never finish on its own."""

    def __init__(
        self, instance: DagsterInstance, logger: logging.Logger, start_timeout: float
    ) -> None:
        self._instance = instance
        self._logger = logger
        self._start_timeout = start_timeout
        self._launched = self._last_check = time.monotonic()
        self._worker_gone_since: float | None = None

    def check(self, run: DagsterRun) -> str | None:
        """Why ``run`` must be failed now, or ``None``."""
        now = time.monotonic()
        status = run.status.value
        if status in {"NOT_STARTED", "STARTING"} and now - self._launched >= self._start_timeout:
            return (
                f"Dagster run {run.run_id} did not start within {self._start_timeout:.0f} s of "
                f"its launch (status {status})"
            )
        if now - self._last_check < HEALTH_CHECK_SECONDS:
            return None
        self._last_check = now
        problem = _worker_problem(self._instance, run, self._logger)
        if problem is None:
            self._worker_gone_since = None
            return None
        if self._worker_gone_since is None:
            self._worker_gone_since = now
        if now - self._worker_gone_since < DEAD_WORKER_GRACE_SECONDS:
            return None
        return f"The run worker of Dagster run {run.run_id} is gone: {problem}"


def _drained(instance: DagsterInstance, dagster_run_id: str, cursor: str | None) -> bool:
    """True when no event was written after ``cursor`` (the run's last events were read)."""
    return not instance.get_records_for_run(dagster_run_id, cursor=cursor, limit=1).records


def _worker_problem(
    instance: DagsterInstance, run: DagsterRun, logger: logging.Logger
) -> str | None:
    """Why the run worker is not running, or ``None`` when it is (or the launcher cannot tell:
    no support, or the check itself failed, e.g. the Docker engine or the API did not answer)."""
    WorkerStatus = _compat.WorkerStatus

    launcher = instance.run_launcher
    if not launcher.supports_check_run_worker_health:
        return None
    if run.status.value in {"NOT_STARTED", "QUEUED"}:
        return None
    try:
        result = launcher.check_run_worker_health(run)
    except Exception as error:
        logger.debug("Health check of the run worker of %s failed: %s", run.run_id, error)
        return None
    if result.status in {WorkerStatus.RUNNING, WorkerStatus.SUCCESS, WorkerStatus.UNKNOWN}:
        return None
    message = result.msg or result.status.value
    return message if len(message) <= 300 else message[:300] + "..."
