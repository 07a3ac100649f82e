"""Which Dagster instance a run is recorded in."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kedro_dagster_runner.errors import ConfigError


def _settings(log_level: str) -> dict[str, Any]:
    """Instance settings of the instances this package creates: no telemetry, quiet engine."""
    return {
        "telemetry": {"enabled": False},
        "nux": {"enabled": False},
        "python_logs": {"python_log_level": log_level},
    }


@contextmanager
def open_instance(setting: str, multi_process: bool, log_level: str = "CRITICAL") -> Iterator[Any]:
    """Yield the instance for a run and dispose of it (and its files) afterwards.

    * ``ephemeral``: in-memory for in-process runs; multi-process executors refuse an in-memory
      instance, so they get a throw-away sqlite instance in a temp dir, deleted after the run.
    * ``dagster_home``: the persistent instance ``$DAGSTER_HOME`` points at (kept).

    ``log_level`` is the level of Dagster's engine messages printed by the instances created here.
    """
    from dagster import DagsterInstance

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
    if not multi_process:
        with DagsterInstance.ephemeral(settings=_settings(log_level)) as instance:
            yield instance
        return
    home = tempfile.mkdtemp(prefix="kedro-dagster-instance-")
    try:
        with DagsterInstance.local_temp(tempdir=home, overrides=_settings(log_level)) as instance:
            yield instance
    finally:
        shutil.rmtree(home, ignore_errors=True)
