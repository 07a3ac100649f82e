"""What an executor kind is: everything kind-specific about running a Kedro run on Dagster.

A kind (``in_process``, ``multiprocess``, ``docker``, ...) is one :class:`ExecutorKind` object in
its own module of this package, listed once in the registry (``executors/__init__.py``). The rest
of the package asks the kind, never tests its name:

* :attr:`~ExecutorKind.options_model`: the pydantic model of its ``dagster.yml`` options;
* :attr:`~ExecutorKind.extra`: the pip extra and module it needs;
* :attr:`~ExecutorKind.nodes_run`: where nodes run (the driver, local processes, remote workers);
* :attr:`~ExecutorKind.instance_need`: which Dagster instance it needs;
* :meth:`~ExecutorKind.executor_definition` and :meth:`~ExecutorKind.run_config`: its Dagster
  executor and that executor's ``execution.config``;
* :meth:`~ExecutorKind.instance_run_launcher` / :meth:`~ExecutorKind.run_launcher`: the run
  launcher an attached run's instance needs, and the one that starts detached runs;
* :meth:`~ExecutorKind.cleanup`: what to delete after a run (containers, Jobs);
* :meth:`~ExecutorKind.cli_commands`: ``kedro dagster-runner`` commands of its own.

Options reach the executor only through Dagster's run config. Values that carry credentials
(URLs with a password) are replaced there by ``{env: VARIABLE}`` references; the driver exports
the variables for the run (:meth:`ExecutorKind.secret_variables`) and passes their names to the
run context, so that a Docker run launcher hands them to a detached run's worker. No password is
stored with the run.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from kedro_dagster_runner.errors import ConfigError, MissingExtraError
from kedro_dagster_runner.executors.options import CommonOptions
from kedro_dagster_runner.redaction import has_credentials

if TYPE_CHECKING:
    import click
    from dagster import ExecutorDefinition

    from kedro_dagster_runner.spec import NodeSpec, RunSpec

Options = TypeVar("Options", bound=CommonOptions)
ExecutorOptions = Mapping[str, Any]  # validated options, as dumped by the kind's model


class NodesRun(Enum):
    """Where a kind runs nodes."""

    DRIVER = "in the kedro run process"
    LOCAL_PROCESSES = "in other processes of this machine"
    REMOTE = "in remote workers, containers or pods"


class InstanceNeed(Enum):
    """The Dagster instance a kind needs for attached runs."""

    ANY = "any instance, an in-memory one included"
    PERSISTENT = "an instance whose storage other processes can write (sqlite or Postgres)"
    SHARED = "a shared instance (Postgres) that containers reach through their arguments"


@dataclass(frozen=True)
class Extra:
    """The pip extra of kedro-dagster-runner a kind needs, and the module that proves it."""

    name: str
    module: str


@dataclass(frozen=True)
class Adopted:
    """An executor entry written in kedro-dagster's shape, read as options of a kind.

    Attributes:
        options: The kind's options (validated afterwards by its model, as any entry).
        ignored: Keys read but not acted on by the kind, each with why (a notice, not an
            error: the entry still runs).
        refusal: Why the entry cannot run as written (``None`` when it can); an error only
            when the run selects the entry.
    """

    options: dict[str, Any]
    ignored: dict[str, str] = field(default_factory=dict)
    refusal: str | None = None


@dataclass(frozen=True)
class RunContext:
    """What a kind's run config and launchers need beyond its options.

    Attributes:
        env_names: Variables run workers and step containers must get by name (the instance's
            password variable, the run's secret variables).
        launcher: The kind whose run launcher starts the run's worker (detached runs).
    """

    env_names: tuple[str, ...] = ()
    launcher: ExecutorKind[Any] | None = None


class ExecutorKind(Generic[Options]):
    """One executor kind; subclasses set the class attributes and implement the Dagster side."""

    name: ClassVar[str]
    options_model: ClassVar[type[CommonOptions]]
    description: ClassVar[str]
    nodes_run: ClassVar[NodesRun]
    instance_need: ClassVar[InstanceNeed] = InstanceNeed.ANY
    extra: ClassVar[Extra | None] = None
    launches_runs: ClassVar[bool] = False
    """True when its entry can configure the run launcher of detached runs (``runner.launcher``)."""
    finishes_unfollowed_runs: ClassVar[bool] = False
    """True when its executor ends a detached run nobody follows (MLflow run, handoff store)."""
    kedro_dagster_name: ClassVar[str | None] = None
    """kedro-dagster's key for this kind in ``dagster.yml`` (``dask_executor``), whose option
    shape :meth:`adopt_kedro_dagster` reads; ``None`` when it has none."""
    honours_retry_policies: ClassVar[bool] = True
    """False when its Dagster executor never retries a step, whatever the op's policy."""
    runs_detached: ClassVar[bool] = True
    """False when a detached run (``submit: detached``) cannot use it: its Dagster executor needs
    a run launcher of its own on the instance, which no detached path provides."""
    runs_shipped_pipelines: ClassVar[bool] = False
    """True when its workers can run a pipeline started without a Kedro project (plain Python),
    from the nodes and catalog the driver pickles into the run's store; kinds whose workers must
    rebuild the project from its files (containers, pods) leave it false."""

    # Options ----------------------------------------------------------------------------------

    def parse(self, options: ExecutorOptions) -> Options:
        """The typed options of this kind (``options`` were validated by the same model)."""
        return self.options_model.model_validate(dict(options))  # type: ignore[return-value]

    def adopt_kedro_dagster(self, options: Mapping[str, Any]) -> Adopted:
        """Options of this kind from an entry under :attr:`kedro_dagster_name`, in kedro-dagster's
        shape (the default takes them as they are)."""
        return Adopted(dict(options))

    def ensure_installed(self) -> None:
        """Raise :class:`MissingExtraError` when the package behind this kind is absent."""
        if self.extra is not None and importlib.util.find_spec(self.extra.module) is None:
            raise MissingExtraError(self.name, self.extra.name, self.extra.module)

    def variables_passed_by_name(self, options: ExecutorOptions) -> list[str]:
        """Names of variables run workers and steps get from the kedro run process."""
        return []

    def check_variables(self, options: ExecutorOptions, key_path: str) -> None:
        """Raise :class:`ConfigError` naming ``key_path`` when a variable passed by name is unset
        here (Dagster reads their values in the process that starts the containers)."""
        missing = [
            name
            for name in self.variables_passed_by_name(options)
            if "=" not in name and name not in os.environ
        ]
        if missing:
            raise ConfigError(
                f"{key_path}.env_vars: {', '.join(missing)} not set in the kedro run process; "
                "export them or remove them from the list."
            )

    def secret_variables(self, options: ExecutorOptions) -> dict[str, str]:
        """Option values that carry credentials, keyed by the variable that carries them."""
        return {
            self._secret_variable(key): value
            for key, value in options.items()
            if isinstance(value, str) and has_credentials(value)
        }

    def _secret_variable(self, key: str) -> str:
        return f"KEDRO_DAGSTER_{self.name.upper()}_{key.upper()}"

    def without_secrets(self, options: ExecutorOptions) -> dict[str, Any]:
        """``options`` with values carrying credentials replaced by ``{env: VARIABLE}``."""
        return {
            key: {"env": self._secret_variable(key)}
            if isinstance(value, str) and has_credentials(value)
            else value
            for key, value in options.items()
        }

    # Dagster ----------------------------------------------------------------------------------

    def executor_definition(self, spec: RunSpec) -> ExecutorDefinition:
        """The Dagster executor the run's job is built with."""
        raise NotImplementedError

    def run_config(
        self, options: ExecutorOptions, spec: RunSpec, context: RunContext
    ) -> dict[str, Any]:
        """The ``execution.config`` section of the run config (never holding a secret)."""
        raise NotImplementedError

    def op_tags(self, options: ExecutorOptions, node: NodeSpec) -> dict[str, str]:
        """Tags this kind's executor reads on the op of ``node`` (e.g. the queue of a step),
        set when the run is planned; none by default."""
        return {}

    def instance_run_launcher(
        self, options: ExecutorOptions, spec: RunSpec
    ) -> dict[str, Any] | None:
        """The ``run_launcher`` section the instance of an attached run of ``spec`` needs, if
        any (an executor that checks the instance's launcher, or reads settings from it)."""
        return None

    def run_launcher(
        self, options: ExecutorOptions, spec: RunSpec, context: RunContext
    ) -> dict[str, Any]:
        """The ``run_launcher`` section that starts a detached run's worker (``launches_runs``)."""
        raise ConfigError(f"The '{self.name}' executor cannot launch runs.")

    def warm_up(self, options: ExecutorOptions, spec: RunSpec) -> AbstractContextManager[None]:
        """Start what an attached run's workers need while the driver imports Dagster and builds
        the job, so that the two overlap (the run's spec is published by then). The driver enters
        it before the job is built and leaves it after the run; the default does nothing."""
        return nullcontext()

    def cleanup(self, options: ExecutorOptions, run_id: str) -> None:
        """Delete what the run left (step containers, Jobs); may raise, the caller logs it."""

    def cli_commands(self) -> list[click.Command]:
        """``kedro dagster-runner`` commands this kind adds (e.g. a worker to start)."""
        return []


def resolve_env_references(config: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """Executor config with ``{env: VARIABLE}`` values replaced by the variables' values.

    Raises:
        ConfigError: A referenced variable is not set in this process.
    """
    resolved = dict(config)
    for key, value in config.items():
        if isinstance(value, Mapping) and set(value) == {"env"}:
            name = value["env"]
            if name not in os.environ:
                raise ConfigError(
                    f"The '{kind}' executor's option '{key}' comes from the environment variable "
                    f"{name}, which is not set in process {os.getpid()}: pass it to the run "
                    "worker (the kedro run process sets it from dagster.yml)."
                )
            resolved[key] = os.environ[name]
    return resolved
