"""From an executor choice in dagster.yml to a Dagster executor definition and its run config."""

from __future__ import annotations

from typing import Any

from kedro_dagster_runner.errors import ConfigError

MULTI_PROCESS_KINDS = frozenset({"multiprocess"})
SUPPORTED_KINDS = frozenset({"in_process", "multiprocess"})


def executor_definition(kind: str) -> Any:
    """The Dagster ``ExecutorDefinition`` for ``kind``.

    Raises:
        ConfigError: ``kind`` is recognised in dagster.yml but not runnable by this version.
    """
    import dagster

    if kind == "in_process":
        return dagster.in_process_executor
    if kind == "multiprocess":
        return dagster.multiprocess_executor
    raise ConfigError(
        f"Executor kind '{kind}' is recognised in dagster.yml but this version of "
        f"kedro-dagster-runner can only run: {', '.join(sorted(SUPPORTED_KINDS))}. "
        "Set runner.executor to one of those."
    )


def _retries(enabled: bool) -> dict[str, dict[str, Any]]:
    return {"enabled": {}} if enabled else {"disabled": {}}


def executor_run_config(kind: str, options: dict[str, Any]) -> dict[str, Any]:
    """The ``execution.config`` section of the Dagster run config for ``kind`` and ``options``."""
    if kind == "in_process":
        return {"retries": _retries(options.get("retries", False))}
    if kind == "multiprocess":
        start_method = options.get("start_method", "spawn")
        start_config: dict[str, Any] = {}
        if start_method == "forkserver" and options.get("preload_modules"):
            start_config["preload_modules"] = list(options["preload_modules"])
        config: dict[str, Any] = {
            "max_concurrent": options.get("max_concurrent"),
            "start_method": {start_method: start_config},
            "retries": _retries(options.get("retries", False)),
        }
        if options.get("tag_concurrency_limits"):
            config["tag_concurrency_limits"] = options["tag_concurrency_limits"]
        return config
    return dict(options)


def runs_in_driver(kind: str) -> bool:
    """True when every step runs in the ``kedro run`` process."""
    return kind == "in_process"
