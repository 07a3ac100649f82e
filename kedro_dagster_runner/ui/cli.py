"""``kedro dagster-runner ...``: the plugin's project commands."""

from __future__ import annotations

import os
from pathlib import Path

import click


@click.group(name="kedro-dagster-runner")
def commands() -> None:
    """Commands of kedro-dagster-runner."""


class _WithExecutorCommands(click.Group):
    """A group that also offers the commands of the executor kinds (e.g. the celery kind's
    worker), loaded only when a ``dagster-runner`` command is looked up: Kedro imports this
    module for every ``kedro`` command."""

    def _kind_commands(self) -> dict[str, click.Command]:
        from kedro_dagster_runner.executors import KINDS

        return {
            command.name or "": command
            for kind in KINDS.values()
            for command in kind.cli_commands()
        }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._kind_commands()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, cmd_name) or self._kind_commands().get(cmd_name)


@commands.group(name="dagster-runner", cls=_WithExecutorCommands)
def dagster_runner() -> None:
    """Run Kedro projects on Dagster: helper commands."""


def _ui_home(project_path: Path, env: str | None) -> tuple[Path, dict[str, str]]:
    """DAGSTER_HOME for the UI: the runs' instance from dagster.yml, and extra environment."""
    import tempfile

    import yaml
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from kedro_dagster_runner.config import InstanceSettings, load_project_config, resolve_config
    from kedro_dagster_runner.deploy.instance import provide_instance_secrets, ui_instance_config

    bootstrap_project(project_path)
    with KedroSession.create(project_path=project_path, env=env) as session:
        loader = session.load_context().config_loader
        setting = resolve_config(load_project_config(loader)).runner.instance
        provide_instance_secrets(setting, loader)
    if isinstance(setting, InstanceSettings):
        home = Path(tempfile.mkdtemp(prefix="kedro-dagster-ui-"))
        config = ui_instance_config(setting.postgres)
        (home / "dagster.yaml").write_text(yaml.safe_dump(config))
        return home, {setting.postgres.password_env: os.environ[setting.postgres.password_env]}
    if setting == "dagster_home" and os.environ.get("DAGSTER_HOME"):
        return Path(os.environ["DAGSTER_HOME"]), {}
    raise click.ClickException(
        "runner.instance in dagster.yml is 'ephemeral': runs are not kept anywhere the UI could "
        "read them. Set runner.instance to {postgres: {...}} (or dagster_home with "
        "DAGSTER_HOME set) for both `kedro run` and this command."
    )


CODE_LOCATION_MODULE = "kedro_dagster_runner.ui.code_location"


@dagster_runner.command(name="ui")
@click.option("--env", "-e", default=None, help="Kedro environment whose dagster.yml to read.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", "-p", type=int, default=3000, show_default=True)
def ui(env: str | None, host: str, port: int) -> None:
    """Start dagster-webserver on the runs' instance with this project's code location."""
    import shutil
    import subprocess

    from kedro_dagster_runner.ui.code_location import ENV_ENV, PROJECT_PATH_ENV

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
    command = [webserver, "-h", host, "-p", str(port), "-m", CODE_LOCATION_MODULE]
    click.echo(f"Dagster UI: http://{host}:{port}  (instance {home}, Ctrl-C to stop)")
    with subprocess.Popen(command, env=child_env) as process:
        try:
            process.wait()
        except KeyboardInterrupt:
            process.terminate()
            process.wait(timeout=30)
