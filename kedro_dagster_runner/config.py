"""``conf/<env>/dagster.yml``: the models that validate it and the function that resolves it.

The file keeps the seed format of named executors, so a kedro-dagster project's file is understood::

    executors:                  # name -> {kind: options}
      local_pool:
        multiprocess: {max_concurrent: 4}
    runner:                     # what DagsterRunner does with them
      executor: local_pool      # a name above, or a bare kind
      instance: ephemeral       # ephemeral | dagster_home
      handoff: /mnt/shared/kdr  # where non-persisted data crosses processes (fsspec URI)
      submit: attached          # attached | detached (the instance's run launcher starts it)

Sections kedro-dagster uses for its own code location (``jobs``, ``schedules``, ``sensors``,
``loggers``, ``definitions``, ``dev``) are accepted and ignored. Any problem raises
:class:`ConfigError` naming the file, the key path and the allowed values, before anything runs.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)

from kedro_dagster_runner.errors import ConfigError, MissingExtraError

IGNORED_SECTIONS = ("jobs", "schedules", "sensors", "loggers", "definitions", "dev")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _normalise_retries(value: Any) -> bool:
    """Accept Dagster's selector form (``{enabled: {}}`` / ``{disabled: {}}``) or a boolean."""
    if isinstance(value, bool):
        return value
    if (
        isinstance(value, Mapping)
        and len(value) == 1
        and next(iter(value)) in {"enabled", "disabled"}
    ):
        return next(iter(value)) == "enabled"
    raise ValueError("expected true/false or {enabled: {}} / {disabled: {}}")


class InProcessOptions(_Strict):
    """Run every node in the ``kedro run`` process, one after the other."""

    retries: bool = Field(default=False, description="Let Dagster retry steps that ask for it.")

    _normalise = field_validator("retries", mode="before")(lambda cls, v: _normalise_retries(v))


class TagConcurrencyLimit(_Strict):
    """At most ``limit`` steps whose Dagster tag ``key`` (=``value``) run at once."""

    key: str
    value: str | None = None
    limit: PositiveInt


def _unpack_start_method(data: Any) -> Any:
    """Accept Dagster's selector ``start_method: {forkserver: {preload_modules: [...]}}``."""
    if isinstance(data, Mapping) and isinstance(data.get("start_method"), Mapping):
        selector = data["start_method"]
        if len(selector) == 1:
            method, inner = next(iter(selector.items()))
            data = {**data, "start_method": method}
            if isinstance(inner, Mapping) and "preload_modules" in inner:
                data.setdefault("preload_modules", inner["preload_modules"])
    return data


class MultiprocessOptions(_Strict):
    """A pool of warm worker processes; each rebuilds the Kedro context once, then runs nodes."""

    max_concurrent: PositiveInt | None = Field(
        default=None, description="Worker processes (default: the number of CPUs)."
    )
    start_method: Literal["forkserver", "spawn", "fork"] = "forkserver"
    preload_modules: list[str] | None = Field(
        default=None, description="Extra modules the forkserver imports once (forkserver only)."
    )
    tag_concurrency_limits: list[TagConcurrencyLimit] | None = None
    retries: bool = False

    _normalise = field_validator("retries", mode="before")(lambda cls, v: _normalise_retries(v))
    _selector = model_validator(mode="before")(lambda cls, v: _unpack_start_method(v))


class DagsterMultiprocessOptions(MultiprocessOptions):
    """Dagster's stock multiprocess executor: a fresh process per node (no ``fork``)."""

    start_method: Literal["spawn", "forkserver"] = "spawn"


class DaskOptions(_Strict):
    """dask.distributed: a local cluster for the run, or an existing scheduler's workers."""

    address: str | None = Field(
        default=None, description="Scheduler address, e.g. tcp://127.0.0.1:8786 (default: local)."
    )
    n_workers: PositiveInt | None = Field(
        default=None, description="Worker processes of the local cluster (default: CPUs)."
    )
    threads_per_worker: PositiveInt = 1
    max_concurrent: PositiveInt | None = Field(
        default=None, description="Nodes submitted at once (default: no limit; dask queues)."
    )
    connect_timeout: PositiveFloat = 30.0
    tag_concurrency_limits: list[TagConcurrencyLimit] | None = None
    retries: bool = False

    _normalise = field_validator("retries", mode="before")(lambda cls, v: _normalise_retries(v))


_BROKER_SCHEMES = ("redis://", "rediss://", "amqp://", "amqps://", "pyamqp://")
_BACKEND_SCHEMES = ("redis://", "rediss://", "rpc://", "db+")


class CeleryOptions(_Strict):
    """Celery workers on a Redis or RabbitMQ broker; queues chosen by Kedro node tags."""

    broker: str = "redis://127.0.0.1:6379/0"
    backend: str = "redis://127.0.0.1:6379/1"
    default_queue: str = "kedro"
    queues: dict[str, str] = Field(
        default_factory=dict, description="Kedro node tag -> queue of the workers that run it."
    )
    max_concurrent: PositiveInt | None = None
    poll_interval: PositiveFloat = 0.02
    worker_check_timeout: PositiveFloat = 2.0
    tag_concurrency_limits: list[TagConcurrencyLimit] | None = None
    retries: bool = False

    _normalise = field_validator("retries", mode="before")(lambda cls, v: _normalise_retries(v))

    @field_validator("broker")
    @classmethod
    def _broker_scheme(cls, value: str) -> str:
        if not value.startswith(_BROKER_SCHEMES):
            raise ValueError(f"expected a URL starting with one of {', '.join(_BROKER_SCHEMES)}")
        return value

    @field_validator("backend")
    @classmethod
    def _backend_scheme(cls, value: str) -> str:
        if not value.startswith(_BACKEND_SCHEMES):
            raise ValueError(f"expected a URL starting with one of {', '.join(_BACKEND_SCHEMES)}")
        return value


def _names_only(names: list[str]) -> list[str]:
    """Values come from the environment, never from the config (which may be committed)."""
    bad = [name for name in names if "=" in name or not name]
    if bad:
        raise ValueError(f"give variable names only (values come from the environment): {bad}")
    return names


class DockerOptions(_Strict):
    """One Docker container per node (dagster-docker's step executor) from a project image."""

    image: str = Field(description="Project image with the runner installed and dagster on PATH.")
    network: str = Field(default="host", description="Docker network of the step containers.")
    env_vars: list[str] = Field(
        default_factory=list,
        description="Names of environment variables passed on from the kedro run process.",
    )
    volumes: list[str] = Field(
        default_factory=list, description="Extra bind mounts, 'host_path:container_path[:mode]'."
    )
    mount_project: bool = Field(
        default=True, description="Bind-mount the Kedro project at the same path in containers."
    )
    max_concurrent: PositiveInt | None = None
    tag_concurrency_limits: list[TagConcurrencyLimit] | None = None
    retries: bool = False

    _normalise = field_validator("retries", mode="before")(lambda cls, v: _normalise_retries(v))

    _names_only = field_validator("env_vars")(lambda cls, v: _names_only(v))


class K8sResources(_Strict):
    """Kubernetes container resources: ``{requests: {cpu, memory}, limits: {cpu, memory}}``."""

    requests: dict[str, str] = Field(default_factory=dict)
    limits: dict[str, str] = Field(default_factory=dict)


class K8sOptions(_Strict):
    """One Kubernetes Job per node (dagster-k8s's step executor) from a project image."""

    image: str = Field(description="Project image with the runner installed and dagster on PATH.")
    namespace: str = "default"
    service_account_name: str = "default"
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    image_pull_secrets: list[str] = Field(default_factory=list)
    env_vars: list[str] = Field(
        default_factory=list, description="Names of variables passed on from kedro run."
    )
    env_secrets: list[str] = Field(
        default_factory=list, description="Secrets whose keys become environment variables."
    )
    env_config_maps: list[str] = Field(default_factory=list)
    volumes: list[dict[str, Any]] = Field(default_factory=list)
    volume_mounts: list[dict[str, Any]] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    default_resources: K8sResources | None = None
    resources: dict[str, K8sResources] = Field(
        default_factory=dict, description="Kedro node tag -> resources of the nodes with that tag."
    )
    mount_project: bool = Field(
        default=False,
        description="hostPath-mount the project and handoff dir at the same path (one node).",
    )
    load_incluster_config: bool = True
    kubeconfig_file: str | None = None
    max_concurrent: PositiveInt | None = None
    tag_concurrency_limits: list[TagConcurrencyLimit] | None = None
    retries: bool = False

    _normalise = field_validator("retries", mode="before")(lambda cls, v: _normalise_retries(v))
    _names_only = field_validator("env_vars")(lambda cls, v: _names_only(v))

    @model_validator(mode="after")
    def _one_way_to_reach_the_cluster(self) -> K8sOptions:
        if self.kubeconfig_file and self.load_incluster_config:
            return self.model_copy(update={"load_incluster_config": False})
        return self


OPTION_MODELS: dict[str, type[BaseModel]] = {
    "in_process": InProcessOptions,
    "multiprocess": MultiprocessOptions,
    "dagster_in_process": InProcessOptions,
    "dagster_multiprocess": DagsterMultiprocessOptions,
    "dask": DaskOptions,
    "celery": CeleryOptions,
    "docker": DockerOptions,
    "k8s": K8sOptions,
}
# kind -> (pip extra, importable module) for the executors that live in integration packages.
INTEGRATION_KINDS: dict[str, tuple[str, str]] = {
    "dask": ("dask", "distributed"),
    "celery": ("celery", "celery"),
    "docker": ("docker", "dagster_docker"),
    "k8s": ("k8s", "dagster_k8s"),
}
ALL_KINDS: tuple[str, ...] = tuple(dict.fromkeys([*OPTION_MODELS, *INTEGRATION_KINDS]))


class ExecutorChoice(_Strict):
    """One executor, resolved: its kind and validated options."""

    name: str
    kind: str
    options: dict[str, Any] = Field(default_factory=dict)


class PostgresSettings(_Strict):
    """A Dagster instance whose run, event and schedule storage is a Postgres database.

    The password never goes into the instance config: it is referenced as an environment
    variable (``password_env``), filled from Kedro credentials when ``credentials`` is set.
    """

    hostname: str = "127.0.0.1"
    port: PositiveInt = 5432
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


class InstanceSettings(_Strict):
    """``runner.instance`` in its mapping form."""

    postgres: PostgresSettings


class RunnerSettings(_Strict):
    """The ``runner:`` section: what DagsterRunner does for ``kedro run``."""

    executor: str = Field(default="in_process", description="An executor name or a bare kind.")
    instance: Literal["ephemeral", "dagster_home"] | InstanceSettings = Field(
        default="ephemeral",
        description="ephemeral: a throw-away instance; dagster_home: the $DAGSTER_HOME one; "
        "{postgres: {...}}: a shared instance on Postgres.",
    )
    handoff: str | None = Field(
        default=None,
        description="Directory or fsspec URI for data crossing processes (default: a temp dir).",
    )
    dagster_logs: Literal["off", "error", "warning", "info", "debug"] = Field(
        default="off", description="Level of Dagster's own event log printed to the terminal."
    )

    @field_validator("dagster_logs", mode="before")
    @classmethod
    def _yaml_off(cls, value: Any) -> Any:
        """YAML reads a bare ``off`` as ``false``."""
        return "off" if value is False or value == "false" else value

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
    launcher: str | None = Field(
        default=None,
        description="With submit: detached, a docker or k8s executor under 'executors' whose "
        "options configure the run launcher (default: the run's executor when it is one); "
        "ignored by attached runs.",
    )


class DagsterFileModel(_Strict):
    """The whole ``dagster.yml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    executors: dict[str, dict[str, Any]] = Field(default_factory=dict)
    runner: RunnerSettings = Field(default_factory=RunnerSettings)


class ResolvedConfig(_Strict):
    """What a run uses: the runner settings, the chosen executor and, for detached runs, the
    docker or k8s executor entry whose options configure the run launcher (``None`` otherwise or
    when a ``dagster_home`` instance brings its own run launcher)."""

    runner: RunnerSettings
    executor: ExecutorChoice
    launcher: ExecutorChoice | None = None


RUNNER_KEYS = frozenset(RunnerSettings.model_fields)


def _format_validation_error(error: ValidationError, prefix: str) -> str:
    lines = []
    for item in error.errors():
        path = ".".join(str(part) for part in (prefix, *item["loc"]) if part != "")
        lines.append(f"  {path}: {item['msg']} (got {item.get('input')!r})")
    return "\n".join(lines)


def _fail(source: str, problem: str) -> ConfigError:
    return ConfigError(f"Invalid DagsterRunner configuration in {source}:\n{problem}")


def _validate_options(kind: str, options: Any, key_path: str, source: str) -> dict[str, Any]:
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        raise _fail(source, f"  {key_path}: expected a mapping of options, got {options!r}")
    model = OPTION_MODELS[kind]
    try:
        return model.model_validate(dict(options)).model_dump(exclude_none=True)
    except ValidationError as exc:
        allowed = ", ".join(model.model_fields)
        raise _fail(
            source, f"{_format_validation_error(exc, key_path)}\n  allowed keys: {allowed}"
        ) from None


def _parse_executor_entry(name: str, entry: Any, source: str) -> tuple[str, Any]:
    if not isinstance(entry, Mapping) or len(entry) != 1:
        raise _fail(
            source,
            f"  executors.{name}: expected exactly one executor kind as key "
            f"(one of {', '.join(ALL_KINDS)}), got {entry!r}",
        )
    kind, options = next(iter(entry.items()))
    if kind not in ALL_KINDS:
        raise _fail(
            source,
            f"  executors.{name}: unknown executor kind '{kind}'; allowed: {', '.join(ALL_KINDS)}",
        )
    return kind, options


def ensure_extra_installed(kind: str) -> None:
    """Raise :class:`MissingExtraError` when the integration package behind ``kind`` is absent."""
    if kind in INTEGRATION_KINDS:
        extra, module = INTEGRATION_KINDS[kind]
        if importlib.util.find_spec(module) is None:
            raise MissingExtraError(kind, extra, module)


def resolve_config(
    raw: Mapping[str, Any] | None,
    overrides: Mapping[str, Any] | None = None,
    source: str = "dagster.yml",
) -> ResolvedConfig:
    """Validate ``dagster.yml`` content, apply ``--runner-params`` and pick the executor.

    Args:
        raw: The merged content of ``dagster.yml`` (``None`` or empty when there is no file).
        overrides: ``--runner-params``; keys of ``runner:`` replace the file's, any other key is
            an option of the chosen executor (e.g. ``max_concurrent=2``).
        source: The file(s) the content came from, used in error messages.

    Raises:
        ConfigError: The file or an override is invalid, or names an unknown executor.
        MissingExtraError: The chosen executor's integration package is not installed.
    """
    raw = dict(raw or {})
    for section in IGNORED_SECTIONS:
        raw.pop(section, None)
    try:
        parsed = DagsterFileModel.model_validate(raw)
    except ValidationError as exc:
        allowed = "executors, runner (ignored: " + ", ".join(IGNORED_SECTIONS) + ")"
        raise _fail(
            source,
            f"{_format_validation_error(exc, '')}\n  allowed top-level keys: {allowed}; "
            f"allowed runner keys: {', '.join(sorted(RUNNER_KEYS))}",
        ) from None

    overrides = dict(overrides or {})
    runner_overrides = {k: v for k, v in overrides.items() if k in RUNNER_KEYS}
    option_overrides = {k: v for k, v in overrides.items() if k not in RUNNER_KEYS}
    try:
        runner = RunnerSettings.model_validate({**parsed.runner.model_dump(), **runner_overrides})
    except ValidationError as exc:
        raise _fail(
            f"{source} (runner section) or --runner-params", _format_validation_error(exc, "runner")
        ) from None

    declared = {
        name: _parse_executor_entry(name, entry, source) for name, entry in parsed.executors.items()
    }
    if runner.executor in declared:
        kind, options = declared[runner.executor]
        key_path = f"executors.{runner.executor}.{kind}"
    elif runner.executor in ALL_KINDS:
        kind, options, key_path = runner.executor, {}, f"runner.executor ({runner.executor})"
    else:
        names = ", ".join([*declared, *ALL_KINDS])
        raise _fail(
            source,
            f"  runner.executor: '{runner.executor}' is neither an executor defined under "
            f"'executors' nor a known kind; allowed: {names}",
        )
    if options is not None and not isinstance(options, Mapping):
        raise _fail(source, f"  {key_path}: expected a mapping of options, got {options!r}")
    merged_options = {**dict(options or {}), **option_overrides}
    where = f"{source} + --runner-params" if option_overrides else source
    validated = _validate_options(kind, merged_options, key_path, where)
    ensure_extra_installed(kind)
    executor = ExecutorChoice(name=runner.executor, kind=kind, options=validated)
    return ResolvedConfig(
        runner=runner,
        executor=executor,
        launcher=_resolve_launcher(runner, executor, declared, source),
    )


LAUNCHER_KINDS = ("docker", "k8s")


def _resolve_launcher(
    runner: RunnerSettings,
    executor: ExecutorChoice,
    declared: Mapping[str, tuple[str, Any]],
    source: str,
) -> ExecutorChoice | None:
    """The executor entry that configures the run launcher of a detached run.

    Detached runs are recorded in a shared instance and started by its run launcher: the one of
    the ``dagster_home`` instance, or one built from a docker/k8s executor entry for a Postgres
    instance (``runner.launcher``, or the run's own executor when it is a container one).
    """
    if runner.submit != "detached":
        return None
    if runner.instance == "ephemeral":
        raise _fail(
            source,
            "  runner.submit: detached runs are recorded in and launched by a shared Dagster "
            "instance; set runner.instance to {postgres: {...}} (or dagster_home with a run "
            "launcher in $DAGSTER_HOME/dagster.yaml).",
        )
    if runner.instance == "dagster_home":
        if runner.launcher is not None:
            raise _fail(
                source,
                "  runner.launcher: with runner.instance: dagster_home the run launcher is the "
                "one in $DAGSTER_HOME/dagster.yaml; remove runner.launcher or use a postgres "
                "instance.",
            )
        return None
    if runner.launcher is None:
        if executor.kind in LAUNCHER_KINDS:
            return executor
        raise _fail(
            source,
            f"  runner.launcher: a detached run on the '{executor.kind}' executor needs a run "
            "launcher: name a docker or k8s executor under 'executors' whose image runs the run "
            f"(declared: {', '.join(declared) or 'none'}).",
        )
    entry = declared.get(runner.launcher)
    if entry is None or entry[0] not in LAUNCHER_KINDS:
        containers = [name for name, (kind, _) in declared.items() if kind in LAUNCHER_KINDS]
        raise _fail(
            source,
            f"  runner.launcher: '{runner.launcher}' is not a docker or k8s executor under "
            f"'executors'; allowed: {', '.join(containers) or 'none declared'}",
        )
    kind, options = entry
    key_path = f"executors.{runner.launcher}.{kind}"
    validated = _validate_options(kind, options, key_path, source)
    ensure_extra_installed(kind)
    return ExecutorChoice(name=runner.launcher, kind=kind, options=validated)


def mask_url(url: str | None) -> str:
    """``scheme://user:***@host/...``: a connection URL safe to print."""
    if not url or "@" not in url or "://" not in url:
        return str(url)
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


def masked_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Executor options safe to store with the Dagster run: passwords in URLs are masked."""
    return {
        key: mask_url(value) if isinstance(value, str) and "://" in value else value
        for key, value in options.items()
    }


def describe_sources(conf_source: str | None, env: str | None, base_env: str = "base") -> str:
    """Name the dagster.yml files a config loader would read, for error messages."""
    if not conf_source:
        return "dagster.yml"
    root = Path(conf_source)
    envs: Iterable[str] = [base_env] + ([env] if env and env != base_env else [])
    found = [str(p) for e in envs for p in sorted((root / e).glob("dagster*.y*ml"))]
    return ", ".join(found) if found else f"{root}/<env>/dagster.yml"


def load_project_config(config_loader: Any) -> Mapping[str, Any] | None:
    """Read ``dagster*`` files through the project's own config loader (env layering, resolvers).

    Returns ``None`` when the project has no such file.
    """
    from kedro.config import MissingConfigException

    patterns = getattr(config_loader, "config_patterns", None)
    if patterns is not None and "dagster" not in patterns:
        patterns["dagster"] = ["dagster*", "dagster*/**"]
    strategies = getattr(config_loader, "merge_strategy", None)
    if isinstance(strategies, dict):  # conf/<env>/dagster.yml refines base instead of replacing it
        strategies.setdefault("dagster", "soft")
    try:
        return config_loader["dagster"]
    except (MissingConfigException, KeyError):
        return None
