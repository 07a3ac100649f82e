"""What the terminal shows while the Dagster run goes: Kedro-style lines, and a bar for long runs.

The driver iterates over the run's Dagster events; :class:`RunProgress` turns step events into the
lines a Kedro user knows ("Completed node: X", "Completed 3 out of 7 tasks") and keeps track of
which nodes finished, failed or were skipped, which the runner needs for the resume hint.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kedro_dagster_runner.errors import RunStoppedError
from kedro_dagster_runner.spec import RunSpec

if TYPE_CHECKING:
    from dagster import DagsterEvent
    from dagster_shared.error import SerializableErrorInfo
    from rich.console import Console
    from rich.progress import Progress, TaskID

BAR_MIN_NODES = 20


def _log_console() -> Console:
    """The rich console Kedro's log handler writes to, so log lines print above the bar."""
    from rich.console import Console

    for handler in logging.getLogger().handlers:
        console = getattr(handler, "console", None)
        if isinstance(console, Console):
            return console
    return Console(stderr=True)


def _raised(error: SerializableErrorInfo | None, class_name: str) -> bool:
    """True when ``error`` or an error it was caused by is of the class named ``class_name``
    (Dagster wraps an op's exception in its own step error)."""
    while error is not None:
        if error.cls_name == class_name:
            return True
        error = error.cause
    return False


@dataclass
class RunProgress:
    """Follows step events of one run.

    Attributes:
        started: Op names of the steps that started.
        done: Kedro names of the nodes that completed (a node fanned out over partitions once
            all its partitions completed; a group's nodes once its step completed).
        steps_done: How many tasks completed (Kedro nodes; a partition's op counts as one).
        retried: Op names of the steps Dagster retried, once per retry.
        failed: Op names of the steps that failed, in the order they failed.
        skipped: Op names of the steps Dagster skipped (upstream failure).
        not_started: Op names of the steps a stock executor started after a failure, whose op
            refused to run the node (:class:`RunStoppedError`).
        errors: Op name -> Dagster's text of the step's error.
        engine_errors: Errors Dagster reported outside any step (executor or run failures).
    """

    spec: RunSpec
    logger: logging.Logger
    show_bar: bool = False
    started: list[str] = field(default_factory=list)
    done: list[str] = field(default_factory=list)
    steps_done: int = 0
    retried: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    not_started: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    engine_errors: list[str] = field(default_factory=list)
    _bar: Progress | None = None
    _task: TaskID | None = None
    _partitions_left: dict[str, int] = field(default_factory=dict)
    _succeeded: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        for node in self.spec.nodes:
            if node.partition_key is not None:
                self._partitions_left[node.name] = self._partitions_left.get(node.name, 0) + 1

    @classmethod
    def for_run(cls, spec: RunSpec, logger: logging.Logger, mode: str) -> RunProgress:
        """``mode``: always | never | auto (a bar on a terminal when the run has many nodes)."""
        show = mode == "always" or (
            mode == "auto" and _log_console().is_terminal and len(spec.nodes) >= BAR_MIN_NODES
        )
        return cls(spec=spec, logger=logger, show_bar=show)

    def __enter__(self) -> RunProgress:
        if self.show_bar:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

            self._bar = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=_log_console(),
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task("Running nodes", total=self.spec.node_count)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def _label(self, step_key: str) -> str:
        node = self.spec.node_by_op.get(step_key)
        return node.label if node else step_key

    def handle(self, event: DagsterEvent) -> None:
        """Consume one ``DagsterEvent``."""
        kind = event.event_type_value
        if kind == "STEP_START":
            self.started.append(str(event.step_key))
        elif kind == "STEP_SUCCESS":
            advance = self._step_succeeded(str(event.step_key))
            if self._bar is not None and self._task is not None:
                self._bar.advance(self._task, advance)
        elif kind == "STEP_FAILURE":
            error = getattr(event.step_failure_data, "error", None)
            if _raised(error, RunStoppedError.__name__):
                self.not_started.append(str(event.step_key))
                return
            self.failed.append(str(event.step_key))
            if error is not None:
                self.errors[str(event.step_key)] = error.to_string()
        elif kind == "STEP_UP_FOR_RETRY":
            self._step_up_for_retry(event)
        elif kind == "STEP_SKIPPED":
            self.skipped.append(str(event.step_key))
        elif kind in {"ENGINE_EVENT", "RUN_FAILURE", "PIPELINE_FAILURE"}:
            error = getattr(event.event_specific_data, "error", None)
            if error is not None:
                self.engine_errors.append(f"{event.message}\n{error.to_string()}")

    def _step_up_for_retry(self, event: DagsterEvent) -> None:
        node = self.spec.node_by_op.get(str(event.step_key))
        data = event.event_specific_data
        error = getattr(data, "error", None)
        while error is not None and error.cause is not None:  # Dagster's wrappers, then the node's
            error = error.cause
        wait = getattr(data, "seconds_to_wait", None)
        policy = (node.retry_policy or {}) if node else {}
        self.retried.append(str(event.step_key))
        self.logger.warning(
            "Node %s failed (%s); retrying%s (retry %d of %s)",
            node.label if node else event.step_key,
            error.message.strip().splitlines()[-1] if error is not None else "error",
            f" in {wait:g} s" if wait else "",
            self.retried.count(str(event.step_key)),
            policy.get("max_retries", "?"),
        )

    def _step_succeeded(self, step_key: str) -> int:
        """Log the step's nodes as completed; how many tasks (Kedro nodes) that is."""
        self._succeeded.add(step_key)
        node = self.spec.node_by_op.get(step_key)
        if node is not None and node.partition_key is not None:
            self.steps_done += 1
            self.logger.info("Completed node: %s, partition %s", node.name, node.partition_key)
            self._partitions_left[node.name] -= 1
            if self._partitions_left[node.name] == 0:
                self.done.append(node.name)
        else:
            for name in node.node_names if node is not None else [step_key]:
                self.steps_done += 1
                self.logger.info("Completed node: %s", name)
                self.done.append(name)
        self.logger.info("Completed %d out of %d tasks", self.steps_done, self.spec.node_count)
        return len(node.node_names) if node is not None else 1

    def unfinished(self) -> list[str]:
        """The nodes (labels: a group's name and nodes) whose steps started and neither
        completed nor failed."""
        ended = {*self._succeeded, *self.failed, *self.not_started}
        return [self._label(op) for op in dict.fromkeys(self.started) if op not in ended]
