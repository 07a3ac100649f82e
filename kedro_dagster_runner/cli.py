"""``kedro dagster-runner ...``: the plugin's project commands."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click


@click.group(name="kedro-dagster-runner")
def commands() -> None:
    """Commands of kedro-dagster-runner."""


@commands.group(name="dagster-runner")
def dagster_runner() -> None:
    """Run Kedro projects on Dagster: helper commands."""


def _celery_options(env: str | None, executor_name: str | None) -> tuple[str, dict[str, Any]]:
    """The celery executor's validated options from the project's dagster.yml."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from kedro_dagster_runner.config import load_project_config, resolve_config
    from kedro_dagster_runner.errors import ConfigError

    project_path = Path.cwd()
    bootstrap_project(project_path)
    with KedroSession.create(project_path=project_path, env=env) as session:
        raw = dict(load_project_config(session.load_context().config_loader) or {})
    if executor_name is None:
        celery_names = [
            name for name, entry in (raw.get("executors") or {}).items() if "celery" in entry
        ]
        chosen = raw.get("runner", {}).get("executor")
        executor_name = chosen if chosen in celery_names else next(iter(celery_names), "celery")
    resolved = resolve_config(raw, {"executor": executor_name})
    if resolved.executor.kind != "celery":
        raise ConfigError(f"Executor '{executor_name}' is a {resolved.executor.kind} executor.")
    return executor_name, resolved.executor.options


@dagster_runner.command(name="celery-worker")
@click.option("--env", "-e", default=None, help="Kedro environment whose dagster.yml to read.")
@click.option("--executor", "executor_name", default=None, help="Name of the celery executor.")
@click.option("--queues", "-Q", default=None, help="Queues to consume (default: all of them).")
@click.option("--concurrency", "-c", type=int, default=None, help="Worker processes.")
@click.option("--loglevel", "-l", default="INFO", show_default=True)
def celery_worker(
    env: str | None,
    executor_name: str | None,
    queues: str | None,
    concurrency: int | None,
    loglevel: str,
) -> None:
    """Start a Celery worker that runs this project's nodes for DagsterRunner."""
    from kedro_dagster_runner.celery_app import make_app
    from kedro_dagster_runner.config import mask_url

    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
    name, options = _celery_options(env, executor_name)
    default_queue = options.get("default_queue", "kedro")
    all_queues = sorted({default_queue, *(options.get("queues") or {}).values()})
    application = make_app(options.get("broker"), options.get("backend"), default_queue)
    click.echo(
        f"Celery worker for executor '{name}' on {mask_url(options.get('broker'))}, "
        f"queues {queues or ','.join(all_queues)}"
    )
    argv = ["worker", "--queues", queues or ",".join(all_queues), "--loglevel", loglevel]
    if concurrency:
        argv += ["--concurrency", str(concurrency)]
    application.worker_main(argv)
