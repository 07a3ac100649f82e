"""Which Dagster instance a run is recorded in."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from kedro_dagster_runner import _compat, leftovers
from kedro_dagster_runner.config import InstanceSetting, InstanceSettings, PostgresSettings
from kedro_dagster_runner.errors import ConfigError

if TYPE_CHECKING:
    from dagster import DagsterInstance
    from kedro.config import AbstractConfigLoader


def _settings(log_level: str) -> dict[str, Any]:
    """Instance settings of the instances this package creates: no telemetry, quiet engine."""
    return {
        "telemetry": {"enabled": False},
        "nux": {"enabled": False},
        "python_logs": {"python_log_level": log_level},
    }


def postgres_instance_config(
    settings: PostgresSettings, log_level: str, run_launcher: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The ``dagster.yaml`` content of a Postgres-backed instance; the password by env name,
    when that variable is set (without it, the server's own authentication applies: trust,
    peer, ``~/.pgpass``)."""
    extra = {"run_launcher": run_launcher} if run_launcher else {}
    database: dict[str, Any] = {
        "username": settings.username,
        "hostname": settings.hostname,
        "db_name": settings.db_name,
        "port": settings.port,
        "scheme": settings.scheme,
        "params": {},
    }
    if settings.password_env in os.environ:
        database["password"] = {"env": settings.password_env}
    return {**extra, "storage": {"postgres": {"postgres_db": database}}, **_settings(log_level)}


def ui_instance_config(settings: PostgresSettings) -> dict[str, Any]:
    """The ``dagster.yaml`` of the UI's instance: the runs' storage, and a coordinator that
    launches runs started from the UI at once (the default queued one needs a daemon)."""
    module, cls = _compat.class_path("DefaultRunCoordinator")
    return {
        **postgres_instance_config(settings, "INFO"),
        "run_coordinator": {"module": module, "class": cls},
    }


def provide_postgres_password(
    settings: PostgresSettings, credentials: Mapping[str, Any] | None
) -> dict[str, str]:
    """The password variable to export for the run (``{password_env: password}``) when it comes
    from Kedro credentials; nothing when it is already set in this process. The caller exports
    it for the run only, so it is not left behind in the process.

    Raises:
        ConfigError: ``credentials`` names a missing key.
    """
    if settings.credentials:
        entry = (credentials or {}).get(settings.credentials)
        if not isinstance(entry, Mapping) or "password" not in entry:
            raise ConfigError(
                f"runner.instance.postgres.credentials: credentials.yml has no entry "
                f"'{settings.credentials}' with a 'password' key."
            )
        return {settings.password_env: str(entry["password"])}
    return {}


def provide_instance_secrets(
    setting: InstanceSetting, config_loader: AbstractConfigLoader | None
) -> dict[str, str]:
    """For a Postgres instance: the password variable to export for the run when it comes from
    Kedro credentials (see :func:`provide_postgres_password`).

    Raises:
        ConfigError: The credentials entry is missing.
    """
    if not isinstance(setting, InstanceSettings) or not setting.postgres.credentials:
        return {}
    from kedro.config import MissingConfigException

    try:
        credentials = config_loader["credentials"] if config_loader is not None else {}
    except (MissingConfigException, KeyError):
        credentials = {}
    return provide_postgres_password(setting.postgres, credentials)


def instance_env_names(setting: InstanceSetting) -> list[str]:
    """Variables run workers and step containers need by name to reach the instance: the
    Postgres password's, when it is set."""
    if isinstance(setting, InstanceSettings) and setting.postgres.password_env in os.environ:
        return [setting.postgres.password_env]
    return []


def run_url(setting: InstanceSetting, dagster_run_id: str) -> str | None:
    """The run's page in the Dagster UI, when a webserver URL is configured."""
    if isinstance(setting, InstanceSettings) and setting.postgres.webserver_url:
        return f"{setting.postgres.webserver_url.rstrip('/')}/runs/{dagster_run_id}"
    return None


PROJECT_HOME = ".dagster_home"
"""The folder of a project's own Dagster instance (``runner.instance: project``)."""


def project_home(project_path: str | Path) -> Path:
    """``<project>/.dagster_home``, the instance ``kedro run`` and ``kedro dagster-runner ui``
    share with ``runner.instance: project`` (sqlite storage; created with its dagster.yaml on
    first use: no telemetry, runs launched from the UI start at once)."""
    home = Path(project_path) / PROJECT_HOME
    config = home / "dagster.yaml"
    if not config.exists():
        home.mkdir(exist_ok=True)
        module, cls = _compat.class_path("DefaultRunCoordinator")
        content = {**_settings("INFO"), "run_coordinator": {"module": module, "class": cls}}
        config.write_text(yaml.safe_dump(content))
    return home


@contextmanager
def open_instance(
    setting: InstanceSetting,
    needs_persistent: bool,
    log_level: str = "CRITICAL",
    run_launcher: dict[str, Any] | None = None,
    project_path: str | None = None,
) -> Iterator[DagsterInstance]:
    """Yield the instance for a run and dispose of it (and its temporary files) afterwards.

    * ``ephemeral``: in-memory, unless ``needs_persistent`` (other processes write events), then
      a throw-away sqlite instance in a temp dir, deleted after the run;
    * ``dagster_home``: the persistent instance ``$DAGSTER_HOME`` points at (kept);
    * ``project``: the project's own, ``<project_path>/.dagster_home`` (kept);
    * ``{postgres: ...}``: a shared instance on Postgres (what dagster-webserver reads).

    ``log_level`` is the level of Dagster's engine messages printed by the instances created here;
    ``run_launcher`` a run launcher section for the Postgres instance (a kind's, see
    :meth:`~kedro_dagster_runner.executors.ExecutorKind.instance_run_launcher`).
    """
    from dagster import DagsterInstance

    if isinstance(setting, InstanceSettings):
        home = Path(tempfile.mkdtemp(prefix="kedro-dagster-instance-"))
        leftovers.claim(home)  # removed by a later run if this process dies
        try:
            config = postgres_instance_config(setting.postgres, log_level, run_launcher)
            (home / "dagster.yaml").write_text(yaml.safe_dump(config))
            with DagsterInstance.from_ref(_compat.InstanceRef.from_dir(str(home))) as instance:
                yield instance
        finally:
            shutil.rmtree(home, ignore_errors=True)
        return
    if setting == "dagster_home":
        if not os.environ.get("DAGSTER_HOME"):
            raise ConfigError(
                "runner.instance is 'dagster_home' but the DAGSTER_HOME environment variable is "
                "not set: point it at a directory holding dagster.yaml, or use "
                "runner.instance: ephemeral."
            )
        with DagsterInstance.get() as instance:
            yield instance
        return
    if setting == "project":
        if project_path is None:
            raise ConfigError(
                "runner.instance is 'project' but the run has no Kedro project (plain Python): "
                "use runner.instance: ephemeral or dagster_home."
            )
        ref = _compat.InstanceRef.from_dir(str(project_home(project_path)))
        with DagsterInstance.from_ref(ref) as instance:
            yield instance
        return
    if not needs_persistent:
        from kedro_dagster_runner.deploy.ephemeral import ephemeral_instance

        with ephemeral_instance(_settings(log_level)) as instance:
            yield instance
        return
    home = tempfile.mkdtemp(prefix="kedro-dagster-instance-")
    leftovers.claim(home)
    try:
        with DagsterInstance.local_temp(tempdir=home, overrides=_settings(log_level)) as instance:
            yield instance
    finally:
        shutil.rmtree(home, ignore_errors=True)
