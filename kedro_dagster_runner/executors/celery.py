"""``celery``: nodes on Celery workers (Redis or RabbitMQ broker), routed to queues by node tags.

The orchestrator sends one ``kedro_dagster_runner.run_node`` task per node and polls the result
backend every ``poll_interval`` seconds (dagster-celery polls once per second, which is what made
it cost ~3.4 s per step here). Workers (``kedro dagster-runner celery-worker``, see
:mod:`kedro_dagster_runner.executors.celery_app`) rebuild the Kedro context once per process.

Faults: when no outcome arrived for :data:`LIVENESS_INTERVAL` seconds the orchestrator pings the
workers; a node whose worker (or, for a queued node, every worker) stays silent for
``lost_worker_timeout`` seconds fails as lost, with a warning naming the node and the broker at
the first silence. An interrupted or crashed run revokes its tasks, terminating running ones.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator

from kedro_dagster_runner.errors import ConfigError, DagsterRunnerError
from kedro_dagster_runner.executors.base import Adopted, Extra, NodesRun
from kedro_dagster_runner.executors.kedro_dagster_shapes import adopt
from kedro_dagster_runner.executors.launcher import NodeLauncher
from kedro_dagster_runner.executors.options import ConcurrentOptions, PositiveNumber
from kedro_dagster_runner.executors.package_kind import PackageExecutorKind
from kedro_dagster_runner.redaction import mask_url
from kedro_dagster_runner.spec import RunSpec

if TYPE_CHECKING:
    import click
    from celery import Celery
    from celery.result import AsyncResult

    from kedro_dagster_runner.workers.outcome import StepOutcome

_LOGGER = logging.getLogger(__name__)
UNLIMITED = 10_000
LIVENESS_INTERVAL = 5.0
"""Seconds without any outcome after which the orchestrator pings the Celery workers."""
_PING_TIMEOUT = 1.0
DEFAULT_VISIBILITY_TIMEOUT = 3600.0
"""Celery's default for Redis: an unacknowledged task is delivered again after an hour."""
_BROKER_SCHEMES = ("redis://", "rediss://", "amqp://", "amqps://", "pyamqp://")
_BACKEND_SCHEMES = ("redis://", "rediss://", "rpc://", "db+")


class CeleryOptions(ConcurrentOptions):
    """Celery workers on a Redis or RabbitMQ broker; queues chosen by Kedro node tags."""

    broker: str = "redis://127.0.0.1:6379/0"
    backend: str = "redis://127.0.0.1:6379/1"
    default_queue: str = "kedro"
    queues: dict[str, str] = Field(
        default_factory=dict, description="Kedro node tag -> queue of the workers that run it."
    )
    poll_interval: PositiveNumber = 0.02
    worker_check_timeout: PositiveNumber = 2.0
    lost_worker_timeout: PositiveNumber = Field(
        default=60.0,
        description="Seconds the worker running a node (for a queued node: every worker) may "
        "leave pings unanswered before the node fails as lost.",
    )
    visibility_timeout: PositiveNumber = Field(
        default=DEFAULT_VISIBILITY_TIMEOUT,
        description="Redis: seconds before an unacknowledged task is delivered again (set it "
        "above the longest node; a redelivered node is never run twice).",
    )

    @field_validator("broker", "backend")
    @classmethod
    def _scheme(cls, value: str, info: ValidationInfo) -> str:
        schemes = _BROKER_SCHEMES if info.field_name == "broker" else _BACKEND_SCHEMES
        if not value.startswith(schemes):
            raise ValueError(f"expected a URL starting with one of {', '.join(schemes)}")
        return value

    def all_queues(self) -> list[str]:
        """Every queue a worker for this executor consumes by default."""
        return sorted({self.default_queue, *self.queues.values()})


def queue_for(tags: list[str], queues: dict[str, str], default_queue: str) -> str:
    """The queue of a node: the first of its tags (sorted) that ``queues`` maps, else default."""
    for tag in sorted(tags):
        if tag in queues:
            return queues[tag]
    return default_queue


class CeleryLauncher(NodeLauncher):
    """Sends one Celery task per node and collects their results."""

    def __init__(self, spec: RunSpec, options: CeleryOptions) -> None:
        super().__init__(spec, max_concurrent=options.max_concurrent or UNLIMITED)
        self._options = options
        self._app: Celery | None = None
        self._results: dict[str, AsyncResult] = {}
        self._last_heard = time.monotonic()
        self._silent_since: dict[str, float] = {}
        self._broker_lost_since: float | None = None
        self._backend_lost_since: float | None = None

    def _queue(self, op_name: str) -> str:
        tags = self._spec.node_by_op[op_name].tags
        return queue_for(tags, self._options.queues, self._options.default_queue)

    def __enter__(self) -> CeleryLauncher:
        from kedro_dagster_runner.executors.celery_app import make_app

        options = self._options
        self._app = make_app(
            options.broker, options.backend, options.default_queue, options.visibility_timeout
        )
        self._check_broker(self._app)
        self._check_workers(self._app)
        return self

    def _check_broker(self, app: Celery) -> None:
        """Fail before any node runs, naming the broker, when it cannot be reached."""
        problem = self._broker_problem(app)
        if problem is not None:
            raise DagsterRunnerError(
                f"Cannot reach the Celery broker at {_where(self._options.broker)} "
                f"({mask_url(self._options.broker)}, the celery executor's 'broker' option): "
                f"{problem}. Start the broker or fix the option."
            )

    def _broker_problem(self, app: Celery) -> str | None:
        """Why the broker cannot be reached now (one attempt, bounded), or ``None``.

        Celery's own broker calls (control broadcasts, revokes) retry a lost connection for
        ever, so the orchestrator checks first.
        """
        try:
            with app.connection_for_write() as connection:
                connection.ensure_connection(
                    max_retries=1, interval_start=0, timeout=self._options.worker_check_timeout
                )
        except Exception as error:
            return str(error).rstrip(".") or type(error).__name__
        return None

    def _check_workers(self, app: Celery) -> None:
        """Fail before any node runs when no worker consumes a queue this run needs."""
        needed = {self._queue(node.op_name) for node in self._spec.nodes}
        timeout = self._options.worker_check_timeout
        replies = app.control.inspect(timeout=timeout).active_queues() or {}
        served = {queue["name"] for queues in replies.values() for queue in queues}
        missing = sorted(needed - served)
        if missing:
            raise DagsterRunnerError(
                f"No Celery worker consumes queue(s) {missing} on broker "
                f"{mask_url(self._options.broker)} "
                f"(workers seen: {sorted(replies) or 'none'}). "
                "Start workers with: kedro dagster-runner celery-worker --env <env> "
                f"--queues {','.join(missing)}"
            )

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        app, self._app = self._app, None
        if app is None:
            return
        task_ids = [result.id for result in self._results.values()]
        self._results.clear()
        if task_ids and self._broker_problem(app) is None:
            # Interrupted or crashed: running nodes are terminated too (their run has ended).
            with contextlib.suppress(Exception):  # the broker lost meanwhile
                app.control.revoke(task_ids, terminate=exc_type is not None, signal="SIGTERM")
        app.close()

    def _start(self, op_name: str) -> None:
        from kedro_dagster_runner.executors.celery_app import TASK_NAME

        if self._app is None:
            raise RuntimeError("CeleryLauncher.launch called outside its with block")
        self._results[op_name] = self._app.send_task(
            TASK_NAME, args=[self._spec.handoff_uri, op_name], queue=self._queue(op_name)
        )

    def running(self) -> int:
        return len(self._results)

    def finished(self, timeout: float) -> list[StepOutcome]:
        deadline = time.monotonic() + timeout
        while self._results:
            ready = self._ready()
            if ready:
                self._last_heard = time.monotonic()
                return [self._collect(op) for op in ready]
            if time.monotonic() - self._last_heard >= LIVENESS_INTERVAL:
                lost = self._check_liveness()
                if lost:
                    return lost
            if time.monotonic() >= deadline:
                break
            time.sleep(self._options.poll_interval)
        return []

    def _ready(self) -> list[str]:
        """The op names whose task has a result; :class:`DagsterRunnerError` naming the result
        backend when it cannot be read for ``lost_worker_timeout`` seconds (warned at once)."""
        try:
            ready = [op for op, result in self._results.items() if result.ready()]
        except Exception as error:
            backend, now = self._options.backend, time.monotonic()
            if self._backend_lost_since is None:
                self._backend_lost_since = now
                _LOGGER.warning(
                    "Cannot read the Celery result backend at %s (%s): %s; the run stops if "
                    "that lasts %s s (the celery executor's lost_worker_timeout).",
                    _where(backend), mask_url(backend), error, self._options.lost_worker_timeout,
                )  # fmt: skip
            if now - self._backend_lost_since < self._options.lost_worker_timeout:
                return []
            raise DagsterRunnerError(
                f"Lost the Celery result backend at {_where(backend)} ({mask_url(backend)}, the "
                f"celery executor's 'backend' option) during the run: {str(error).rstrip('.')}. "
                "Nodes still running on workers have their outputs refused once the run has ended."
            ) from None
        self._backend_lost_since = None
        return ready

    def _check_liveness(self) -> list[StepOutcome]:
        """Ping the workers; fail the nodes whose worker stayed silent for the timeout.

        A broker that cannot be reached for ``lost_worker_timeout`` seconds ends the run with
        :class:`DagsterRunnerError` naming it (a warning at the first failed check).
        """
        if self._app is None:
            return []
        if not self._broker_answers(self._app):
            return []
        replies = self._app.control.ping(timeout=_PING_TIMEOUT) or []
        alive = {hostname for reply in replies for hostname in reply}
        now = self._last_heard = time.monotonic()
        lost = []
        for op_name, result in list(self._results.items()):
            worker = _worker_of(result)
            if (worker in alive) if worker else bool(alive):
                self._silent_since.pop(op_name, None)
                continue
            first = self._silent_since.setdefault(op_name, now)
            silent = (
                f"Celery worker {worker}, running step '{op_name}', does not answer"
                if worker
                else f"No Celery worker answers (step '{op_name}' is queued)"
            )
            broker = mask_url(self._options.broker)
            timeout = self._options.lost_worker_timeout
            if first == now:
                _LOGGER.warning(
                    "%s on broker %s; the step fails as lost if that lasts %s s (the celery "
                    "executor's lost_worker_timeout).",
                    silent, broker, timeout,
                )  # fmt: skip
            elif now - first >= timeout:
                del self._results[op_name]
                with contextlib.suppress(Exception):
                    result.revoke()
                lost.append(self.worker_lost(op_name, (
                    f"{silent} on broker {broker}: no answer for {now - first:.0f} s "
                    f"(lost_worker_timeout: {timeout} s). With late acknowledgement the broker "
                    "may deliver the task again (Redis after visibility_timeout); a second "
                    "delivery never runs the node twice."
                )))  # fmt: skip
        return lost

    def _broker_answers(self, app: Celery) -> bool:
        problem = self._broker_problem(app)
        now = self._last_heard = time.monotonic()
        if problem is None:
            self._broker_lost_since = None
            return True
        broker, timeout = self._options.broker, self._options.lost_worker_timeout
        if self._broker_lost_since is None:
            self._broker_lost_since = now
            _LOGGER.warning(
                "Cannot reach the Celery broker at %s (%s): %s; the run stops if that lasts %s s "
                "(the celery executor's lost_worker_timeout).",
                _where(broker), mask_url(broker), problem, timeout,
            )  # fmt: skip
        elif now - self._broker_lost_since >= timeout:
            raise DagsterRunnerError(
                f"Lost the Celery broker at {_where(broker)} ({mask_url(broker)}, the celery "
                f"executor's 'broker' option) for {now - self._broker_lost_since:.0f} s during "
                f"the run: {problem}. Nodes still running on workers have their outputs refused "
                "once the run has ended."
            )
        return False

    def _collect(self, op_name: str) -> StepOutcome:
        from kedro_dagster_runner.workers.outcome import StepOutcome

        result = self._results.pop(op_name)
        try:
            payload = result.get(propagate=True, disable_sync_subtasks=False)
        except Exception as error:  # the task itself failed (worker lost, revoked, ...)
            return self.worker_lost(op_name, f"Celery task of step '{op_name}': {error!r}")
        with contextlib.suppress(NotImplementedError):
            result.forget()  # drop the result from the backend
        if not isinstance(payload, dict) or "failure" not in payload:
            return self.worker_lost(
                op_name,
                f"The Celery task of step '{op_name}' returned a result in an unknown format "
                "(a worker running another version of kedro-dagster-runner?)",
            )
        return StepOutcome.from_json_dict(payload)


def _where(url: str) -> str:
    """``host:port`` of a broker or backend URL."""
    address = urlsplit(url)
    return f"{address.hostname or 'localhost'}:{address.port or 'default port'}"


def _worker_of(result: AsyncResult) -> str | None:
    """The hostname of the worker running ``result``'s task, once it has started."""
    with contextlib.suppress(Exception):  # a backend hiccup: treated as not started
        if result.state == "STARTED" and isinstance(result.info, dict):
            return result.info.get("hostname")
    return None


def _celery_options(env: str | None, executor_name: str | None) -> tuple[str, CeleryOptions]:
    """The celery executor's validated options from the project's dagster.yml."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from kedro_dagster_runner.config import load_project_config, resolve_config

    project_path = Path.cwd()
    bootstrap_project(project_path)
    with KedroSession.create(project_path=project_path, env=env) as session:
        raw = dict(load_project_config(session.load_context().config_loader) or {})
    if executor_name is None:
        names = [name for name, entry in (raw.get("executors") or {}).items() if KIND.name in entry]
        chosen = raw.get("runner", {}).get("executor")
        executor_name = chosen if chosen in names else next(iter(names), KIND.name)
    resolved = resolve_config(raw, {"executor": executor_name})
    if resolved.executor.kind != KIND.name:
        raise ConfigError(f"Executor '{executor_name}' is a {resolved.executor.kind} executor.")
    return executor_name, KIND.parse(resolved.executor.options)


def _worker_command() -> click.Command:
    import click

    @click.command(name="celery-worker")
    @click.option("--env", "-e", default=None, help="Kedro environment whose dagster.yml to read.")
    @click.option("--executor", "executor_name", default=None, help="Name of the celery executor.")
    @click.option("--queues", "-Q", default=None, help="Queues to consume (default: all of them).")
    @click.option("--concurrency", "-c", type=int, default=None, help="Worker processes.")
    @click.option("--loglevel", "-l", default="INFO", show_default=True)
    def celery_worker(
        env: str | None,
        executor_name: str | None,
        queues: str | None,
        concurrency: int | None,
        loglevel: str,
    ) -> None:
        """Start a Celery worker that runs this project's nodes for DagsterRunner."""
        from kedro_dagster_runner.executors.celery_app import make_app

        os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
        name, options = _celery_options(env, executor_name)
        consumed = queues or ",".join(options.all_queues())
        application = make_app(
            options.broker, options.backend, options.default_queue, options.visibility_timeout
        )
        click.echo(
            f"Celery worker for executor '{name}' on {mask_url(options.broker)}, queues {consumed}"
        )
        argv = ["worker", "--queues", consumed, "--loglevel", loglevel]
        if concurrency:
            argv += ["--concurrency", str(concurrency)]
        application.worker_main(argv)

    return celery_worker


class CeleryKind(PackageExecutorKind[CeleryOptions]):
    name = "celery"
    description = "Celery workers on a Redis or RabbitMQ broker, queues chosen by node tags"
    options_model = CeleryOptions
    nodes_run: ClassVar[NodesRun] = NodesRun.REMOTE
    runs_shipped_pipelines: ClassVar[bool] = True
    extra: ClassVar[Extra | None] = Extra("celery", "celery")

    kedro_dagster_name: ClassVar[str | None] = "celery_executor"

    def make_launcher(self, spec: RunSpec, options: CeleryOptions) -> NodeLauncher:
        return CeleryLauncher(spec, options)

    def adopt_kedro_dagster(self, options: Mapping[str, Any]) -> Adopted:
        """dagster-celery's shape: ``broker`` (its default: RabbitMQ on
        ``$DAGSTER_CELERY_BROKER_HOST`` or localhost) and ``backend`` (default ``rpc://``).
        ``include`` and ``config_source`` configure dagster-celery's own worker app, which this
        kind does not use; its ``retries`` count is Celery's task retry, not applied."""
        broker_host = os.environ.get("DAGSTER_CELERY_BROKER_HOST", "localhost")
        defaults = {"broker": f"pyamqp://guest@{broker_host}//", "backend": "rpc://"}
        chosen = {key: options.get(key) or value for key, value in defaults.items()}
        retries = options.get("retries")
        task_retries = isinstance(retries, int) and not isinstance(retries, bool)
        return adopt(
            options,
            handled=("broker", "backend"),
            ignored={
                **(
                    {"retries": "a count of Celery task retries; not applied"}
                    if task_retries
                    else {}
                ),
                "include": "workers are `kedro dagster-runner celery-worker`, which import the "
                "project themselves",
                "config_source": "the Celery app's settings come from the celery executor's "
                "options",
            },
            extra=chosen,
        )

    def cli_commands(self) -> list[click.Command]:
        return [_worker_command()]


KIND = CeleryKind()
