"""``kedro dagster-runner ...``: the plugin's project commands."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
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


def _ui_home(project_path: Path, env: str | None) -> tuple[Path, dict[str, str], bool]:
    """DAGSTER_HOME for the UI: the runs' instance from dagster.yml, extra environment, and
    whether the folder is a temporary one of this command (removed when it stops)."""
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
        secrets = provide_instance_secrets(setting, loader)
    if isinstance(setting, InstanceSettings):
        home = Path(tempfile.mkdtemp(prefix="kedro-dagster-ui-"))
        config = ui_instance_config(setting.postgres)
        (home / "dagster.yaml").write_text(yaml.safe_dump(config))
        variable = setting.postgres.password_env
        password = {variable: secrets.get(variable) or os.environ[variable]}
        return home, password, True
    if setting == "dagster_home" and os.environ.get("DAGSTER_HOME"):
        return Path(os.environ["DAGSTER_HOME"]), {}, False
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
    """Start dagster-webserver on the runs' instance with this project's code location.

    Ctrl-C or SIGTERM stops the webserver and its code server, and removes the temporary
    DAGSTER_HOME made for a Postgres instance.
    """

    from kedro_dagster_runner.ui.code_location import ENV_ENV, PROJECT_PATH_ENV

    project_path = Path.cwd()
    home, extra_env, temporary_home = _ui_home(project_path, env)
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
    # The webserver and the code server it starts get a process group of their own, stopped
    # as a whole on Ctrl-C or SIGTERM (a service manager stopping this command).
    process = subprocess.Popen(command, env=child_env, start_new_session=True)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        _stop_group(process)
        signal.signal(signal.SIGTERM, previous)
        if temporary_home:
            shutil.rmtree(home, ignore_errors=True)


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM handler: stop like Ctrl-C does."""
    raise KeyboardInterrupt


def _stop_group(process: subprocess.Popen[bytes], grace_seconds: float = 30) -> None:
    """SIGTERM the process group led by ``process``; SIGKILL what is left after the grace
    period, and any straggler (a code server outliving the webserver)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:  # the whole group is gone
            return
        try:
            process.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            continue
        if not _group_alive(process.pid, grace_seconds=5):
            return


def _group_alive(pgid: int, grace_seconds: float) -> bool:
    """True when processes of the group outlive ``grace_seconds``."""
    import time

    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        time.sleep(0.2)
    return True
