"""Handing a planned run to Dagster: attached (executed by ``kedro run``) or detached (launched).

Both paths share one skeleton (:meth:`RunPath.run`): open the instance with the run launcher the
path needs, create the Dagster run (its job, run config, tags), let the path drive it
while progress lines print, then clean up what the run left. They differ in how the run is
driven: :class:`AttachedRun` executes it in this process and reads its events as they happen;
:class:`DetachedRun` hands it to the instance's run launcher and, with ``runner.wait``, follows
its events from the instance.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kedro_dagster_runner import _compat, leftovers
from kedro_dagster_runner.deploy.instance import instance_env_names, open_instance, run_url
from kedro_dagster_runner.driver import collector
from kedro_dagster_runner.driver.progress import RunProgress
from kedro_dagster_runner.environment import exported
from kedro_dagster_runner.executors import InstanceNeed, RunContext, kind_named
from kedro_dagster_runner.job import build_job, reconstructable_job
from kedro_dagster_runner.toposort_levels import linear_toposort

if TYPE_CHECKING:
    from dagster import DagsterInstance, DagsterRun

    from kedro_dagster_runner._compat import IJob
    from kedro_dagster_runner.config import ExecutorChoice, ResolvedConfig
    from kedro_dagster_runner.driver.plan import RunPlan

DAGSTER_LOG_LEVELS = {
    "off": "CRITICAL",
    "error": "ERROR",
    "warning": "WARNING",
    "info": "INFO",
    "debug": "DEBUG",
}
RUN_FAILURE_EVENTS = frozenset({"RUN_FAILURE", "PIPELINE_FAILURE"})


def check_environment(config: ResolvedConfig) -> None:
    """Variables the run's containers get by name must be set in this process.

    Raises:
        ConfigError: naming the executor entry and the unset variables.
    """
    for choice in (config.executor, config.launcher):
        if choice is not None:
            kind = kind_named(choice.kind)
            kind.check_variables(choice.options, f"executors.{choice.name}.{choice.kind}")


@dataclass(frozen=True)
class RunOutcome:
    """How a Dagster run ended, with what the progress tracker saw of its steps."""

    status: str
    failure_message: str | None
    progress: RunProgress

    @property
    def failed(self) -> bool:
        return bool(self.progress.failed) or self.status != "SUCCESS"


class RunPath(ABC):
    """One way of getting a planned run executed; see the module docstring."""

    def __init__(self, config: ResolvedConfig, plan: RunPlan, logger: logging.Logger) -> None:
        self._config = config
        self._plan = plan
        self._spec = plan.spec
        self._logger = logger
        self._kind = kind_named(config.executor.kind)
        launcher = config.launcher
        self._secrets = self._kind.secret_variables(config.executor.options)
        self._context = RunContext(
            env_names=(*instance_env_names(config.runner.instance), *self._secrets),
            launcher=kind_named(launcher.kind) if launcher is not None else None,
        )

    # What the two paths differ in -----------------------------------------------------------

    @abstractmethod
    def _persistent_instance(self) -> bool:
        """True when processes other than this one write to the instance."""

    @abstractmethod
    def _run_launcher_section(self) -> dict[str, Any] | None:
        """The ``run_launcher`` section of the instance, if the path needs one."""

    @abstractmethod
    def _drive(
        self, instance: DagsterInstance, dagster_run: DagsterRun, job: IJob
    ) -> RunOutcome | None:
        """Get the created run executed; ``None`` when it goes on without ``kedro run``."""

    @abstractmethod
    def _choices_to_clean(self) -> list[ExecutorChoice]:
        """The executor entries whose leftovers (containers, Jobs) are deleted after the run."""

    def _check_instance(self, instance: DagsterInstance) -> None:  # noqa: B027 - optional
        """Refuse an instance this path cannot use."""

    def _driver_tags(self, instance: DagsterInstance) -> dict[str, str]:
        """Tags naming the process that executes the run, when it is this one."""
        return {}

    def in_flight(self) -> bool:
        """True while a launched run may still read the run's store."""
        return False

    # The skeleton ---------------------------------------------------------------------------

    def run(self) -> RunOutcome | None:
        """Create the Dagster run, have it executed and clean up after it."""
        with exported(self._secrets):
            return self._run()

    def _run(self) -> RunOutcome | None:
        # Dagster sorts the job's graph for its snapshot and plan too: in linear time here.
        with self._warm_up(), linear_toposort():
            return self._run_warm()

    def _warm_up(self) -> AbstractContextManager[None]:
        """What the executor starts before the job is built (see ``ExecutorKind.warm_up``)."""
        return nullcontext()

    def _run_warm(self) -> RunOutcome | None:
        collector.imports_done()
        job = self._job()
        try:
            with open_instance(
                self._config.runner.instance,
                self._persistent_instance(),
                self.log_level,
                run_launcher=self._run_launcher_section(),
                project_path=self._spec.project.project_path if self._spec.project else None,
            ) as instance:
                self._check_instance(instance)
                recon = isinstance(job, _compat.ReconstructableJob)
                dagster_run = instance.create_run_for_job(
                    job_def=job.get_definition(),
                    run_config=self.run_config(),
                    tags={**self._spec.tags, **self._driver_tags(instance)},
                    job_code_origin=job.get_python_origin() if recon else None,
                )
                return self._drive(instance, dagster_run, job)
        finally:
            self._clean_up()

    def _job(self) -> IJob:
        """The job to execute: reconstructable (other processes rebuild it from the run store's
        URI), unless :meth:`_in_memory_job_will_do`."""
        if self._in_memory_job_will_do():
            return _compat.InMemoryJob(build_job(self._spec.to_json()))
        return reconstructable_job(self._spec)

    def _in_memory_job_will_do(self) -> bool:
        """True when no other process will rebuild the job: Dagster executes every step in this
        process (the package's executor, which hands nodes to its own workers, or Dagster's
        in-process one) and the run is recorded in a throw-away instance. Building the job in
        memory skips Dagster's loading of a code pointer (about 0.7 s, mostly imports)."""
        return False

    @property
    def log_level(self) -> str:
        return DAGSTER_LOG_LEVELS[self._config.runner.dagster_logs]

    def run_config(self) -> dict[str, Any]:
        """The Dagster run config: the executor's section and the console log level."""
        options = self._config.executor.options
        return {
            "execution": {"config": self._kind.run_config(options, self._spec, self._context)},
            "loggers": {"console": {"config": {"log_level": self.log_level}}},
        }

    def _clean_up(self) -> None:
        """Delete the run's containers or Jobs; a failure is logged, never raised over the
        run's outcome."""
        for choice in self._choices_to_clean():
            try:
                kind_named(choice.kind).cleanup(choice.options, self._spec.run_id)
            except Exception as error:
                self._logger.warning(
                    "Could not delete the containers or Jobs of run %s: %s",
                    self._spec.run_id,
                    error,
                )

    def _announce(self, dagster_run_id: str, always: bool) -> None:
        """Log the Dagster run id, and its UI link when a webserver URL is configured."""
        url = run_url(self._config.runner.instance, dagster_run_id)
        if url:
            self._logger.info("Dagster run: %s", url)
        else:
            level = logging.INFO if always else logging.DEBUG
            self._logger.log(level, "Dagster run id: %s", dagster_run_id)

    def _progress(self) -> RunProgress:
        return RunProgress.for_run(self._spec, self._logger, self._config.runner.progress)


class AttachedRun(RunPath):
    """The run executes in this process; node completions are reported to ``on_node_done``."""

    def __init__(
        self,
        config: ResolvedConfig,
        plan: RunPlan,
        logger: logging.Logger,
        on_node_done: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(config, plan, logger)
        self._on_node_done = on_node_done

    def _persistent_instance(self) -> bool:
        return self._kind.instance_need is not InstanceNeed.ANY

    def _run_launcher_section(self) -> dict[str, Any] | None:
        return self._kind.instance_run_launcher(self._config.executor.options, self._spec)

    def _choices_to_clean(self) -> list[ExecutorChoice]:
        return [self._config.executor]

    def _warm_up(self) -> AbstractContextManager[None]:
        return self._kind.warm_up(self._config.executor.options, self._spec)

    def _in_memory_job_will_do(self) -> bool:
        return (
            self._kind.instance_need is InstanceNeed.ANY
            and self._config.runner.instance == "ephemeral"
        )

    def _driver_tags(self, instance: DagsterInstance) -> dict[str, str]:
        """In an instance that outlives this process, this process executes the run: its runs
        are tagged with it, and runs of dead drivers left unfinished are marked failed first."""
        if self._config.runner.instance == "ephemeral":
            return {}
        leftovers.fail_orphaned_runs(instance)
        return leftovers.driver_tags()

    def _drive(self, instance: DagsterInstance, dagster_run: DagsterRun, job: IJob) -> RunOutcome:
        self._announce(dagster_run.run_id, always=False)
        progress = self._progress()
        failure_message = None
        with progress:
            for event in _compat.execute_run_iterator(job, dagster_run, instance):
                done_before = len(progress.done)
                progress.handle(event)
                if self._on_node_done is not None:
                    for name in progress.done[done_before:]:  # a group's step: all its nodes
                        self._on_node_done(name)
                if event.event_type_value in RUN_FAILURE_EVENTS:
                    failure_message = event.message
        status = instance.get_run_by_id(dagster_run.run_id).status.value
        return RunOutcome(status, failure_message, progress)


class DetachedRun(RunPath):
    """The instance's run launcher starts the run; with ``runner.wait`` its events are followed."""

    def __init__(self, config: ResolvedConfig, plan: RunPlan, logger: logging.Logger) -> None:
        super().__init__(config, plan, logger)
        self._in_flight = False
        self._remove_workers = False

    def _persistent_instance(self) -> bool:
        return True

    def _run_launcher_section(self) -> dict[str, Any] | None:
        choice = self._config.launcher
        if choice is None:  # a dagster_home instance brings its own
            return None
        return kind_named(choice.kind).run_launcher(choice.options, self._spec, self._context)

    def _check_instance(self, instance: DagsterInstance) -> None:
        from kedro_dagster_runner.deploy.submission import check_run_launcher

        check_run_launcher(instance)

    def in_flight(self) -> bool:
        return self._in_flight

    def _choices_to_clean(self) -> list[ExecutorChoice]:
        if not self._remove_workers:  # the run goes on: its workers are its own
            return []
        return [choice for choice in (self._config.launcher, self._config.executor) if choice]

    def _drive(
        self, instance: DagsterInstance, dagster_run: DagsterRun, job: IJob
    ) -> RunOutcome | None:
        from kedro_dagster_runner.deploy.submission import follow_run, launch
        from kedro_dagster_runner.errors import LaunchError

        try:
            launch(instance, dagster_run.run_id)
        except LaunchError:
            self._remove_workers = True  # e.g. created but never started
            raise
        self._in_flight = True
        self._announce(dagster_run.run_id, always=True)
        if not self._config.runner.wait:
            self._logger.info(
                "Dagster run %s goes on in %s; kedro run returns without waiting "
                "(runner.wait: true follows it)",
                dagster_run.run_id,
                type(instance.run_launcher).__name__,
            )
            return None
        progress = self._progress()
        with progress:
            try:
                followed = follow_run(instance, dagster_run.run_id, progress.handle, self._logger)
            except KeyboardInterrupt:
                self._logger.warning(
                    "Stopped following Dagster run %s; it goes on (terminate it from the "
                    "Dagster UI).",
                    dagster_run.run_id,
                )
                raise
        self._in_flight = False
        self._remove_workers = True
        return RunOutcome(followed.status, followed.failure_message, progress)
