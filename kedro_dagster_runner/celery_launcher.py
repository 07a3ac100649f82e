"""Nodes on Celery workers (Redis or RabbitMQ broker), routed to queues by Kedro node tags.

The driver sends one ``kedro_dagster_runner.run_node`` task per node and polls the result
backend every ``poll_interval`` seconds (dagster-celery polls once per second, which is what made
it cost ~3.4 s per step here). Workers rebuild the Kedro context once per process and run.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from kedro_dagster_runner.config import mask_url
from kedro_dagster_runner.errors import DagsterRunnerError
from kedro_dagster_runner.launchers import StepOutcome, error_outcome
from kedro_dagster_runner.spec import RunSpec


def queue_for(tags: list[str], queues: dict[str, str], default_queue: str) -> str:
    """The queue of a node: the first of its tags (sorted) that ``queues`` maps, else default."""
    for tag in sorted(tags):
        if tag in queues:
            return queues[tag]
    return default_queue


class CeleryLauncher:
    """Sends one Celery task per node and collects their results."""

    def __init__(self, spec: RunSpec, options: dict[str, Any]) -> None:
        if spec.handoff_uri is None:
            raise ValueError("the celery executor needs the run's handoff store")
        self._spec = spec
        self._options = options
        self.max_concurrent = options.get("max_concurrent") or 10_000
        self._poll = float(options.get("poll_interval", 0.02))
        self._app: Any = None
        self._results: dict[str, Any] = {}
        self._started: dict[str, float] = {}

    def _queue(self, op_name: str) -> str:
        return queue_for(
            self._spec.node_by_op[op_name].tags,
            self._options.get("queues") or {},
            self._options.get("default_queue", "kedro"),
        )

    def __enter__(self) -> CeleryLauncher:
        from kedro_dagster_runner.celery_app import make_app

        self._app = make_app(
            self._options.get("broker"),
            self._options.get("backend"),
            self._options.get("default_queue", "kedro"),
        )
        self._check_workers()
        return self

    def _check_workers(self) -> None:
        """Fail before any node runs when no worker consumes a queue this run needs."""
        needed = {self._queue(node.op_name) for node in self._spec.nodes}
        timeout = float(self._options.get("worker_check_timeout", 2.0))
        replies = self._app.control.inspect(timeout=timeout).active_queues() or {}
        served = {queue["name"] for queues in replies.values() for queue in queues}
        missing = sorted(needed - served)
        if missing:
            raise DagsterRunnerError(
                f"No Celery worker consumes queue(s) {missing} on broker "
                f"{mask_url(self._options.get('broker'))} "
                f"(workers seen: {sorted(replies) or 'none'}). "
                "Start workers with: kedro dagster-runner celery-worker --env <env> "
                f"--queues {','.join(missing)}"
            )

    def __exit__(self, exc_type: object, *exc: object) -> None:
        for result in self._results.values():
            result.revoke()
        self._results.clear()
        self._app.close()

    def launch(self, op_name: str) -> None:
        from kedro_dagster_runner.celery_app import TASK_NAME

        self._started[op_name] = time.perf_counter()
        self._results[op_name] = self._app.send_task(
            TASK_NAME, args=[self._spec.handoff_uri, op_name], queue=self._queue(op_name)
        )

    def running(self) -> int:
        return len(self._results)

    def finished(self, timeout: float) -> list[StepOutcome]:
        deadline = time.monotonic() + timeout
        while self._results:
            ready = [op for op, result in self._results.items() if result.ready()]
            if ready:
                return [self._collect(op) for op in ready]
            if time.monotonic() >= deadline:
                break
            time.sleep(self._poll)
        return []

    def _collect(self, op_name: str) -> StepOutcome:
        from dagster._serdes import deserialize_value
        from dagster._utils.error import SerializableErrorInfo

        result = self._results.pop(op_name)
        try:
            payload = result.get(propagate=True, disable_sync_subtasks=False)
        except Exception as error:  # the task itself failed (worker lost, revoked, ...)
            elapsed = (time.perf_counter() - self._started[op_name]) * 1000
            return error_outcome(op_name, elapsed, f"Celery task of step '{op_name}': {error!r}")
        with contextlib.suppress(NotImplementedError):
            result.forget()  # drop the result from the backend
        error = payload.get("error")
        return StepOutcome(
            op_name,
            payload["duration_ms"],
            deserialize_value(error, SerializableErrorInfo) if error else None,
            materialized=payload.get("materialized") or {},
            observed=payload.get("observed") or {},
            logs=[(level, message) for level, message in payload.get("logs") or []],
        )
