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


def _ui_home(project_path: Path, env: str | None) -> tuple[Path, dict[str, str]]:
    """DAGSTER_HOME for the UI: the runs' instance from dagster.yml, and extra environment."""
    import tempfile

    import yaml
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from kedro_dagster_runner.config import InstanceSettings, load_project_config, resolve_config
    from kedro_dagster_runner.instance import postgres_instance_config, provide_postgres_password

    bootstrap_project(project_path)
    with KedroSession.create(project_path=project_path, env=env) as session:
        loader = session.load_context().config_loader
        raw = load_project_config(loader)
        setting = resolve_config(raw).runner.instance
        credentials_needed = isinstance(setting, InstanceSettings) and setting.postgres.credentials
        credentials = loader["credentials"] if credentials_needed else {}
    if isinstance(setting, InstanceSettings):
        provide_postgres_password(setting.postgres, credentials)
        home = Path(tempfile.mkdtemp(prefix="kedro-dagster-ui-"))
        config = postgres_instance_config(setting.postgres, "INFO")
        # Launch runs started from the UI at once: the default queued coordinator needs a daemon.
        config["run_coordinator"] = {
            "module": "dagster._core.run_coordinator",
            "class": "DefaultRunCoordinator",
        }
        (home / "dagster.yaml").write_text(yaml.safe_dump(config))
        return home, {setting.postgres.password_env: os.environ[setting.postgres.password_env]}
    if setting == "dagster_home" and os.environ.get("DAGSTER_HOME"):
        return Path(os.environ["DAGSTER_HOME"]), {}
    raise click.ClickException(
        "runner.instance in dagster.yml is 'ephemeral': runs are not kept anywhere the UI could "
        "read them. Set runner.instance to {postgres: {...}} (or dagster_home with "
        "DAGSTER_HOME set) for both `kedro run` and this command."
    )


@dagster_runner.command(name="ui")
@click.option("--env", "-e", default=None, help="Kedro environment whose dagster.yml to read.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", "-p", type=int, default=3000, show_default=True)
def ui(env: str | None, host: str, port: int) -> None:
    """Start dagster-webserver on the runs' instance with this project's code location."""
    import shutil
    import subprocess

    from kedro_dagster_runner.code_location import ENV_ENV, PROJECT_PATH_ENV

    project_path = Path.cwd()
    home, extra_env = _ui_home(project_path, env)
    webserver = shutil.which("dagster-webserver")
    if webserver is None:
        raise click.ClickException(
            "dagster-webserver is not installed: pip install 'kedro-dagster-runner[ui]'"
        )
    child_env = {
        **os.environ,
        **extra_env,
        "DAGSTER_HOME": str(home),
        PROJECT_PATH_ENV: str(project_path),
        "KEDRO_DISABLE_TELEMETRY": "true",
    }
    if env:
        child_env[ENV_ENV] = env
    command = [webserver, "-h", host, "-p", str(port), "-m", "kedro_dagster_runner.code_location"]
    click.echo(f"Dagster UI: http://{host}:{port}  (instance {home}, Ctrl-C to stop)")
    with subprocess.Popen(command, env=child_env) as process:
        try:
            process.wait()
        except KeyboardInterrupt:
            process.terminate()
            process.wait(timeout=30)
