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
    """The ``dagster.yaml`` content of a Postgres-backed instance; the password by env name."""
    extra = {"run_launcher": run_launcher} if run_launcher else {}
    return {
        **extra,
        "storage": {
            "postgres": {
                "postgres_db": {
                    "username": settings.username,
                    "password": {"env": settings.password_env},
                    "hostname": settings.hostname,
                    "db_name": settings.db_name,
                    "port": settings.port,
                    "scheme": settings.scheme,
                    "params": {},
                }
            }
        },
        **_settings(log_level),
    }


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
        ConfigError: ``credentials`` names a missing key, or no password is available at all.
    """
    if settings.credentials:
        entry = (credentials or {}).get(settings.credentials)
        if not isinstance(entry, Mapping) or "password" not in entry:
            raise ConfigError(
                f"runner.instance.postgres.credentials: credentials.yml has no entry "
                f"'{settings.credentials}' with a 'password' key."
            )
        return {settings.password_env: str(entry["password"])}
    require_password_env(settings)
    return {}


def provide_instance_secrets(
    setting: InstanceSetting, config_loader: AbstractConfigLoader | None
) -> dict[str, str]:
    """For a Postgres instance: the password variable to export for the run when it comes from
    Kedro credentials (see :func:`provide_postgres_password`), and a check that one exists.

    Raises:
        ConfigError: The credentials entry is missing, or no password is available at all.
    """
    if not isinstance(setting, InstanceSettings):
        return {}
    if not setting.postgres.credentials:
        require_password_env(setting.postgres)
        return {}
    from kedro.config import MissingConfigException

    try:
        credentials = config_loader["credentials"] if config_loader is not None else {}
    except (MissingConfigException, KeyError):
        credentials = {}
    return provide_postgres_password(setting.postgres, credentials)


def instance_env_names(setting: InstanceSetting) -> list[str]:
    """Variables run workers and step containers need by name to reach the instance."""
    return [setting.postgres.password_env] if isinstance(setting, InstanceSettings) else []


def run_url(setting: InstanceSetting, dagster_run_id: str) -> str | None:
    """The run's page in the Dagster UI, when a webserver URL is configured."""
    if isinstance(setting, InstanceSettings) and setting.postgres.webserver_url:
        return f"{setting.postgres.webserver_url.rstrip('/')}/runs/{dagster_run_id}"
    return None


def require_password_env(settings: PostgresSettings) -> None:
    """Raise :class:`ConfigError` when the password variable is not set in this process."""
    if settings.password_env not in os.environ:
        raise ConfigError(
            f"runner.instance.postgres: the password environment variable "
            f"'{settings.password_env}' is not set; export it or set "
            "runner.instance.postgres.credentials to a key of credentials.yml."
        )


@contextmanager
def open_instance(
    setting: InstanceSetting,
    needs_persistent: bool,
    log_level: str = "CRITICAL",
    run_launcher: dict[str, Any] | None = None,
) -> Iterator[DagsterInstance]:
    """Yield the instance for a run and dispose of it (and its temporary files) afterwards.

    * ``ephemeral``: in-memory, unless ``needs_persistent`` (other processes write events), then
      a throw-away sqlite instance in a temp dir, deleted after the run;
    * ``dagster_home``: the persistent instance ``$DAGSTER_HOME`` points at (kept);
    * ``{postgres: ...}``: a shared instance on Postgres (what dagster-webserver reads).

    ``log_level`` is the level of Dagster's engine messages printed by the instances created here;
    ``run_launcher`` a run launcher section for the Postgres instance (a kind's, see
    :meth:`~kedro_dagster_runner.executors.ExecutorKind.instance_run_launcher`).
    """
    from dagster import DagsterInstance

    if isinstance(setting, InstanceSettings):
        require_password_env(setting.postgres)
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
