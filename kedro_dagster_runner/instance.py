"""Which Dagster instance a run is recorded in."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from kedro_dagster_runner.config import InstanceSettings, PostgresSettings
from kedro_dagster_runner.errors import ConfigError


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


def provide_postgres_password(
    settings: PostgresSettings, credentials: Mapping[str, Any] | None
) -> None:
    """Put the password in ``settings.password_env`` for this process (and its step containers).

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
        os.environ[settings.password_env] = str(entry["password"])
    require_password_env(settings)


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
    setting: str | InstanceSettings,
    needs_persistent: bool,
    log_level: str = "CRITICAL",
    run_launcher: dict[str, Any] | None = None,
) -> Iterator[Any]:
    """Yield the instance for a run and dispose of it (and its temporary files) afterwards.

    * ``ephemeral``: in-memory, unless the executor refuses that (Dagster's stock multiprocess),
      then a throw-away sqlite instance in a temp dir, deleted after the run;
    * ``dagster_home``: the persistent instance ``$DAGSTER_HOME`` points at (kept);
    * ``{postgres: ...}``: a shared instance on Postgres (what dagster-webserver reads).

    ``log_level`` is the level of Dagster's engine messages printed by the instances created here;
    ``run_launcher`` a run launcher section for the Postgres instance (dagster-k8s needs one).
    """
    from dagster import DagsterInstance

    if isinstance(setting, InstanceSettings):
        require_password_env(setting.postgres)
        home = Path(tempfile.mkdtemp(prefix="kedro-dagster-instance-"))
        try:
            config = postgres_instance_config(setting.postgres, log_level, run_launcher)
            (home / "dagster.yaml").write_text(yaml.safe_dump(config))
            from dagster._core.instance.ref import InstanceRef

            with DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
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
        with DagsterInstance.ephemeral(settings=_settings(log_level)) as instance:
            yield instance
        return
    home = tempfile.mkdtemp(prefix="kedro-dagster-instance-")
    try:
        with DagsterInstance.local_temp(tempdir=home, overrides=_settings(log_level)) as instance:
            yield instance
    finally:
        shutil.rmtree(home, ignore_errors=True)
