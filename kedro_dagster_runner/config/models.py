"""The models of ``dagster.yml``'s ``runner:`` section and of a resolved run configuration.

Executor options are validated by each kind's own model (``executors/<kind>.py``). A check that
spans sections (an executor that needs a shared instance) is a validator of
:class:`ResolvedConfig` and raises :class:`ConfigError` naming the key to fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from kedro_dagster_runner.config.jobs import JobSettings, ScheduleSettings
from kedro_dagster_runner.config.loggers import LoggerSettings
from kedro_dagster_runner.config.pools import PoolSettings, pool_for
from kedro_dagster_runner.config.retry_policies import RetryPolicySettings, policy_for
from kedro_dagster_runner.config.sensors import SensorSettings
from kedro_dagster_runner.errors import ConfigError
from kedro_dagster_runner.executors import DEFAULT_KIND, InstanceNeed, NodesRun, kind_named
from kedro_dagster_runner.executors.options import PositiveCount, PositiveNumber, StrictModel
from kedro_dagster_runner.grouping import check_strategy


class ExecutorChoice(StrictModel):
    """One executor, resolved: its name in dagster.yml, its kind and validated options."""

    name: str
    kind: str
    options: dict[str, Any] = Field(default_factory=dict)


class PostgresSettings(StrictModel):
    """A Dagster instance whose run, event and schedule storage is a Postgres database.

    The password never goes into the instance config: it is referenced as an environment
    variable (``password_env``), filled from Kedro credentials when ``credentials`` is set.
    """

    hostname: str = "127.0.0.1"
    port: PositiveCount = 5432
    username: str = "postgres"
    db_name: str = "dagster"
    password_env: str = Field(
        default="DAGSTER_PG_PASSWORD",
        description="Environment variable holding the password (also passed to step containers).",
    )
    credentials: str | None = Field(
        default=None,
        description="Key in credentials.yml whose 'password' fills password_env for the run.",
    )
    scheme: str = Field(
        default="postgresql+psycopg2", description="SQLAlchemy URL scheme (driver)."
    )
    webserver_url: str | None = Field(
        default=None, description="URL of a dagster-webserver on this storage, to print run links."
    )


class InstanceSettings(StrictModel):
    """``runner.instance`` in its mapping form."""

    postgres: PostgresSettings


def _instance_form(value: object) -> str | None:
    """The form ``runner.instance`` is written in, so that a wrong value is reported against
    that form only (not against every member of the union)."""
    if isinstance(value, str):
        return "name"
    if isinstance(value, Mapping | InstanceSettings):
        return "mapping"
    return None


InstanceSetting = Annotated[
    Annotated[Literal["ephemeral", "project", "dagster_home"], Tag("name")]
    | Annotated[InstanceSettings, Tag("mapping")],
    Discriminator(
        _instance_form,
        custom_error_type="instance_form",
        custom_error_message="expected ephemeral, project, dagster_home or {postgres: {...}}",
    ),
]
"""``runner.instance``: ``ephemeral``, ``project``, ``dagster_home`` or ``{postgres: {...}}``."""


class RunnerSettings(StrictModel):
    """The ``runner:`` section: what DagsterRunner does for ``kedro run``."""

    executor: str = Field(default=DEFAULT_KIND, description="An executor name or a bare kind.")
    job: str | None = Field(
        default=None,
        description="A name under jobs: run that job's nodes on its executor instead of the "
        "pipeline kedro run selects.",
    )
    loggers: list[str] | None = Field(
        default=None,
        description="Names under loggers that get the run's Dagster event log (a job's own "
        "loggers replace them).",
    )
    instance: InstanceSetting = Field(
        default="ephemeral",
        description="ephemeral: a throw-away instance; project: the project's own "
        "(.dagster_home, which kedro dagster-runner ui shows); dagster_home: the $DAGSTER_HOME "
        "one; {postgres: {...}}: a shared instance on Postgres.",
    )
    handoff: str | None = Field(
        default=None,
        description="Directory or fsspec URI for data crossing processes (default: a temp dir).",
    )
    dagster_logs: Literal["off", "error", "warning", "info", "debug"] = Field(
        default="off", description="Level of Dagster's own event log printed to the terminal."
    )
    progress: Literal["auto", "always", "never"] = Field(
        default="auto", description="Progress bar: auto shows it on a terminal for long runs."
    )
    submit: Literal["attached", "detached"] = Field(
        default="attached",
        description="attached: kedro run executes the job; detached: the instance's run launcher "
        "starts it in a container or pod and kedro run returns (see wait).",
    )
    wait: bool = Field(
        default=False,
        description="With submit: detached, follow the run to its end (progress, exit code); "
        "ignored by attached runs, which always end with the run.",
    )
    on_failure: Literal["stop", "continue"] = Field(
        default="stop",
        description="stop: as Kedro's runners, no node starts once one failed (nodes already "
        "running finish); continue: Dagster's way, nodes that do not depend on the failed one "
        "still run.",
    )
    launcher: str | None = Field(
        default=None,
        description="With submit: detached, an executor under 'executors' whose kind launches "
        "runs (docker, k8s) and whose options configure the run launcher (default: the run's "
        "executor when it is one); ignored by attached runs.",
    )
    run_retries: PositiveCount | None = Field(
        default=None,
        description="With submit: detached, Dagster run retries (tag dagster/max_retries): the "
        "daemon launches a failed run again, up to this many times (the instance needs "
        "run_retries enabled).",
    )
    run_priority: int | None = Field(
        default=None,
        description="With submit: detached, the run's priority in the instance's run queue "
        "(tag dagster/priority; higher first).",
    )
    max_runtime: PositiveNumber | None = Field(
        default=None,
        description="With submit: detached, seconds after which Dagster's run monitoring "
        "stops the run (tag dagster/max_runtime).",
    )
    partitions: str | list[str] | None = Field(
        default=None,
        description="The partitions a node fanned out over partitions runs for: keys "
        "(a,b,c or a list) or a range (start...end); default: every key of its output.",
    )
    group_nodes: str = Field(
        default="none",
        description="none: one Dagster step per node; namespace: one step per top-level "
        "namespace; tag:<prefix>: one step per Kedro tag starting with <prefix>; "
        "memory_chains: one step per set of nodes joined by in-memory datasets. A step runs its "
        "nodes in Kedro's order in one process (one container or pod).",
    )

    @field_validator("dagster_logs", mode="before")
    @classmethod
    def _yaml_off(cls, value: object) -> object:
        """YAML reads a bare ``off`` as ``false``."""
        return "off" if value is False or value == "false" else value

    @field_validator("group_nodes")
    @classmethod
    def _grouping_strategy(cls, value: str) -> str:
        return check_strategy(value)

    @field_validator("instance", mode="before")
    @classmethod
    def _instance_name(cls, value: object) -> object:
        """Name every form in the error for an unknown name (``instance: postgres``)."""
        if isinstance(value, str) and value not in ("ephemeral", "project", "dagster_home"):
            raise ValueError("expected ephemeral, project, dagster_home or {postgres: {...}}")
        return value

    @property
    def shared_instance(self) -> bool:
        """True when runs are recorded where step containers can reach them (Postgres, or a
        $DAGSTER_HOME whose dagster.yaml says where)."""
        return isinstance(self.instance, InstanceSettings) or self.instance == "dagster_home"

    @property
    def detached(self) -> bool:
        return self.submit == "detached"

    def detached_run_tags(self) -> dict[str, str]:
        """The Dagster tags of ``run_retries``, ``run_priority`` and ``max_runtime`` (acted on
        by the instance's daemon and run queue, so for detached runs)."""
        tags = {}
        if self.run_retries is not None:
            tags["dagster/max_retries"] = str(self.run_retries)
        if self.run_priority is not None:
            tags["dagster/priority"] = str(self.run_priority)
        if self.max_runtime is not None:
            tags["dagster/max_runtime"] = f"{self.max_runtime:g}"
        return tags


RUNNER_KEYS = frozenset(RunnerSettings.model_fields)


class DagsterFileModel(StrictModel):
    """The parts of ``dagster.yml`` DagsterRunner reads (other sections are dropped first)."""

    executors: dict[str, dict[str, Any]] = Field(default_factory=dict)
    runner: RunnerSettings = Field(default_factory=RunnerSettings)
    jobs: dict[str, JobSettings] = Field(default_factory=dict)
    schedules: dict[str, ScheduleSettings] = Field(default_factory=dict)
    loggers: dict[str, LoggerSettings] = Field(default_factory=dict)
    sensors: dict[str, SensorSettings] = Field(default_factory=dict)
    retry_policies: dict[str, RetryPolicySettings] = Field(default_factory=dict)
    pools: dict[str, PoolSettings] = Field(default_factory=dict)


class ResolvedConfig(StrictModel):
    """What a run uses: the runner settings, the chosen executor and, for detached runs, the
    executor entry whose options configure the run launcher (``None`` otherwise or when a
    ``dagster_home`` instance brings its own run launcher); the job the run runs, if
    ``runner.job`` names one, and every job and schedule of the file (the code location's)."""

    runner: RunnerSettings
    executor: ExecutorChoice
    launcher: ExecutorChoice | None = None
    jobs: dict[str, JobSettings] = Field(default_factory=dict)
    schedules: dict[str, ScheduleSettings] = Field(default_factory=dict)
    loggers: dict[str, LoggerSettings] = Field(default_factory=dict)
    sensors: dict[str, SensorSettings] = Field(default_factory=dict)
    retry_policies: dict[str, RetryPolicySettings] = Field(default_factory=dict)
    pools: dict[str, PoolSettings] = Field(default_factory=dict)

    def node_settings(self, node_name: str, node_tags: list[str]) -> dict[str, Any]:
        """What dagster.yml sets on a node's op, as ``NodeSpec`` fields: its retry policy and
        its concurrency pool (``None`` each when no entry selects the node)."""
        return {
            "retry_policy": policy_for(node_name, node_tags, self.retry_policies),
            "pool": pool_for(node_name, node_tags, self.pools),
        }

    @property
    def job(self) -> JobSettings | None:
        """The settings of the job ``runner.job`` names (``None`` when it names none)."""
        return self.jobs[self.runner.job] if self.runner.job else None

    def loggers_of(self, job: str | None) -> dict[str, LoggerSettings]:
        """The loggers of job ``job`` (its own list, inline ones named ``<job>_logger_<i>``),
        or for ``None`` those of ``runner.loggers``."""
        if job is None:
            return {name: self.loggers[name] for name in self.runner.loggers or []}
        chosen: dict[str, LoggerSettings] = {}
        for index, entry in enumerate(self.jobs[job].loggers or []):
            if isinstance(entry, str):
                chosen[entry] = self.loggers[entry]
            else:
                chosen[f"{job}_logger_{index}"] = entry
        return chosen

    def run_loggers(self) -> dict[str, LoggerSettings]:
        """The loggers of this run: its job's when ``runner.job`` names one that has any, else
        those of ``runner.loggers``."""
        job = self.job
        if job is not None and job.loggers is not None:
            return self.loggers_of(self.runner.job)
        return self.loggers_of(None)

    notices: list[str] = Field(
        default_factory=list,
        description="One line per setting of dagster.yml this run reads but does not act on.",
    )

    @property
    def uses_handoff(self) -> bool:
        """True when nodes run outside the ``kedro run`` process (other processes, containers,
        a detached run's worker), so in-memory data crosses processes through the run's store
        under ``runner.handoff``."""
        return self.runner.detached or kind_named(self.executor.kind).nodes_run is not (
            NodesRun.DRIVER
        )

    @model_validator(mode="after")
    def _instance_fits_the_executor(self) -> ResolvedConfig:
        kind = self.executor.kind
        if kind_named(kind).instance_need is InstanceNeed.SHARED and not (
            self.runner.shared_instance
        ):
            raise ConfigError(
                f"runner.instance: the '{kind}' executor runs steps in containers that record "
                "their events in the Dagster instance, so it needs a shared instance: set "
                "runner.instance to {postgres: {...}}, or to dagster_home with a Postgres "
                "dagster.yaml in $DAGSTER_HOME (see docs/configuration.md)."
            )
        return self
