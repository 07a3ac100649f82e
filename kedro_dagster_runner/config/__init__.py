"""``conf/<env>/dagster.yml``: its models (:mod:`.models`), how it is read (:mod:`.loading`)
and how it resolves, with ``--runner-params``, into the configuration of one run
(:mod:`.resolve`). Executor options are validated by each kind's own model
(:mod:`kedro_dagster_runner.executors`).
"""

from __future__ import annotations

from kedro_dagster_runner.config.loading import describe_sources, load_project_config
from kedro_dagster_runner.config.models import (
    RUNNER_KEYS,
    ExecutorChoice,
    InstanceSetting,
    InstanceSettings,
    PostgresSettings,
    ResolvedConfig,
    RunnerSettings,
)
from kedro_dagster_runner.config.resolve import IGNORED_SECTIONS, resolve_config
from kedro_dagster_runner.redaction import mask_url, masked_options

__all__ = [
    "IGNORED_SECTIONS",
    "RUNNER_KEYS",
    "ExecutorChoice",
    "InstanceSetting",
    "InstanceSettings",
    "PostgresSettings",
    "ResolvedConfig",
    "RunnerSettings",
    "describe_sources",
    "load_project_config",
    "mask_url",
    "masked_options",
    "resolve_config",
]
