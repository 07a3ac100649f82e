"""``kedro dagster-runner ...``: the plugin's project commands."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import click

from kedro_dagster_runner.environment import exported


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
    """DAGSTER_HOME for the UI and its daemon, the extra environment they need, and whether the
    folder is a temporary one of this command (removed when it stops).

    The instance is the one dagster.yml's ``runner.instance`` records runs in: Postgres (a
    temporary home pointing at it), ``$DAGSTER_HOME``, or the project's own
    (``<project>/.dagster_home``), which is also the UI's when runs are ``ephemeral``.
    """
    import tempfile

    import yaml
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from kedro_dagster_runner.config import InstanceSettings, load_project_config, resolve_config
    from kedro_dagster_runner.deploy.instance import (
        project_home,
        provide_instance_secrets,
        ui_instance_config,
    )

    bootstrap_project(project_path)
    with KedroSession.create(project_path=project_path, env=env) as session:
        loader = session.load_context().config_loader
        setting = resolve_config(load_project_config(loader)).runner.instance
        secrets = provide_instance_secrets(setting, loader)
    if isinstance(setting, InstanceSettings):
        with exported(secrets):  # the password variable, if any, is in the config by name
            config = ui_instance_config(setting.postgres)
        home = Path(tempfile.mkdtemp(prefix="kedro-dagster-ui-"))
        (home / "dagster.yaml").write_text(yaml.safe_dump(config))
        return home, secrets, True
    if setting == "dagster_home":
        if not os.environ.get("DAGSTER_HOME"):
            raise click.ClickException(
                "runner.instance is 'dagster_home' but DAGSTER_HOME is not set: set it for both "
                "`kedro run` and this command, or use runner.instance: project."
            )
        return Path(os.environ["DAGSTER_HOME"]), {}, False
    home = project_home(project_path)
    if setting == "ephemeral":
        click.echo(
            f"Runs of `kedro run` are not recorded here: dagster.yml's runner.instance is "
            f"'ephemeral'. Set it to 'project' to see them in this UI ({home})."
        )
    return home, {}, False


CODE_LOCATION_MODULE = "kedro_dagster_runner.ui.code_location"


@dagster_runner.command(name="ui")
@click.option("--env", "-e", default=None, help="Kedro environment whose dagster.yml to read.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", "-p", type=int, default=3000, show_default=True)
def ui(env: str | None, host: str, port: int) -> None:
    """Start dagster-webserver and dagster-daemon (schedules, sensors) on the runs' instance
    with this project's code location.

    Ctrl-C or SIGTERM stops both and their code servers, and removes the temporary DAGSTER_HOME
    made for a Postgres instance.
    """

    from kedro_dagster_runner.ui.code_location import ENV_ENV, PROJECT_PATH_ENV

    webserver, daemon = (shutil.which(name) for name in ("dagster-webserver", "dagster-daemon"))
    if webserver is None or daemon is None:
        raise click.ClickException(
            "dagster-webserver and dagster-daemon are needed: "
            "pip install 'kedro-dagster-runner[ui]'"
        )
    project_path = Path.cwd()
    home, extra_env, temporary_home = _ui_home(project_path, env)
    child_env = {
        **os.environ,
        **extra_env,
        "DAGSTER_HOME": str(home),
        PROJECT_PATH_ENV: str(project_path),
        "KEDRO_DISABLE_TELEMETRY": "true",
    }
    if env:
        child_env[ENV_ENV] = env
    commands = [
        [webserver, "-h", host, "-p", str(port), "-m", CODE_LOCATION_MODULE],
        [daemon, "run", "-m", CODE_LOCATION_MODULE],
    ]
    _create_storage(home, extra_env)
    click.echo(f"Dagster UI: http://{host}:{port}  (instance {home}, Ctrl-C to stop)")
    # The webserver, the daemon and the code servers they start each get a process group of
    # their own, stopped as a whole on Ctrl-C or SIGTERM (a service manager stopping this
    # command), or when either of the two ends.
    processes = [
        subprocess.Popen(command, env=child_env, start_new_session=True) for command in commands
    ]
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        while all(process.poll() is None for process in processes):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for process in processes:
            _stop_group(process)
        signal.signal(signal.SIGTERM, previous)
        if temporary_home:
            shutil.rmtree(home, ignore_errors=True)


def _create_storage(home: Path, extra_env: dict[str, str]) -> None:
    """Create (or migrate) the instance's tables once, before the webserver and the daemon
    start: both would otherwise create a new sqlite instance's tables at once, and one fails."""
    from dagster import DagsterInstance

    from kedro_dagster_runner import _compat

    with exported(extra_env), DagsterInstance.from_ref(_compat.InstanceRef.from_dir(str(home))):
        pass


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
