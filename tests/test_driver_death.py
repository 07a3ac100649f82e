"""A `kedro run` killed with SIGKILL (the OOM killer): its pool ends with it, and the next run
cleans up what it left and marks its Dagster run failed.

Processes are found by a marker unique to the test in their environment (every process of the
killed run inherits it, whoever its parent becomes); directories only under the test's TMPDIR.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from kedro_projects import (
    PIPELINES_OPTION,
    RUNNER,
    hook_calls,
    kedro_runner,
    processes_with_env,
    wait_for,
)

MARKER = "KDR_DRIVER_DEATH_TEST"


def _marked_processes(marker: str) -> set[int]:
    return processes_with_env(MARKER, marker)


def _node_starts(hook_log: Path) -> list[dict]:
    return hook_calls(hook_log, "before_node_run")


def _run_dirs(temp: Path) -> set[str]:
    patterns = ("kedro-dagster-handoff-*", "kedro-dagster-instance-*", "pymp-*")
    return {path.name for pattern in patterns for path in temp.glob(pattern)}


def test_a_killed_driver_takes_its_pool_with_it_and_the_next_run_cleans_up(
    demo_project: Path, tmp_path: Path, dagster_home: Path
) -> None:
    from dagster import DagsterInstance, DagsterRunStatus

    marker, temp, hook_log = uuid.uuid4().hex, tmp_path / "tmp", tmp_path / "hooks.jsonl"
    temp.mkdir()
    # the pool, recording in $DAGSTER_HOME (dagster.yml rather than --runner-params: Kedro < 1.6)
    (demo_project / "conf" / "mp" / "dagster.yml").write_text(
        "runner: {executor: pool, instance: dagster_home}\n"
        "executors: {pool: {multiprocess: {max_concurrent: 2}}}\n"
    )
    env = {
        **os.environ,
        MARKER: marker,
        "TMPDIR": str(temp),
        "DEMO_HOOK_LOG": str(hook_log),
    }
    driver = subprocess.Popen(
        [
            sys.executable, "-m", "kedro", "run", "--runner", RUNNER, "--env", "mp",
            PIPELINES_OPTION, "waiting",
        ],
        cwd=demo_project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(lambda: _node_starts(hook_log), 120, "the node to start in a pool worker")
        (started,) = _node_starts(hook_log)
        helpers = _marked_processes(marker) - {driver.pid}
        assert started["pid"] in helpers  # the node runs in a pool worker, not the driver
        left = _run_dirs(temp)
        assert any(name.startswith("pymp-") for name in left), left

        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)

        # The workers (and the forkserver, the resource tracker) leave with the driver.
        wait_for(lambda: not _marked_processes(marker), 30, f"{helpers} to exit")
        assert not (demo_project / "data" / "out" / "released").exists()
        assert _run_dirs(temp) >= left  # a SIGKILL-ed process cleans nothing itself
        with DagsterInstance.get() as instance:
            (dead,) = instance.get_runs()
            assert dead.status == DagsterRunStatus.STARTED

        # The next run removes what the dead one left and marks its Dagster run failed.
        after = kedro_runner(demo_project, tmp_path)(
            "--runner", RUNNER, "--env", "mp", env={"TMPDIR": str(temp)}
        )
        assert after.returncode == 0, after.output
        assert _run_dirs(temp) == set(), _run_dirs(temp)
        with DagsterInstance.get() as instance:
            marked = instance.get_run_by_id(dead.run_id)
            assert marked.status == DagsterRunStatus.FAILURE
            messages = [
                entry.message
                for entry in instance.all_logs(dead.run_id)
                if entry.dagster_event
                and entry.dagster_event.event_type_value in ("RUN_FAILURE", "PIPELINE_FAILURE")
            ]
        assert any("died before the run ended" in message for message in messages), messages
    finally:
        if driver.poll() is None:
            driver.kill()
        for pid in _marked_processes(marker):
            os.kill(pid, signal.SIGKILL)


def test_sigterm_stops_the_run_as_ctrl_c_does_and_cleans_up(
    demo_project: Path, tmp_path: Path
) -> None:
    """`docker stop`, Kubernetes and systemd stop with SIGTERM: during execution it interrupts
    the run like Ctrl-C, so the driver ends its workers and removes what it created."""
    marker, temp, hook_log = uuid.uuid4().hex, tmp_path / "tmp", tmp_path / "hooks.jsonl"
    temp.mkdir()
    env = {**os.environ, MARKER: marker, "TMPDIR": str(temp), "DEMO_HOOK_LOG": str(hook_log)}
    driver = subprocess.Popen(
        [
            sys.executable, "-m", "kedro", "run", "--runner", RUNNER, "--env", "mp",
            PIPELINES_OPTION, "held", "--params", f"release={tmp_path / 'release'}",
        ],
        cwd=demo_project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(lambda: len(_node_starts(hook_log)) == 2, 120, "two nodes running")

        driver.send_signal(signal.SIGTERM)

        assert driver.wait(timeout=60) != 0
        wait_for(lambda: not _marked_processes(marker), 30, "the pool to exit")
        assert not [n for n in _run_dirs(temp) if n.startswith("kedro-dagster-handoff-")]
        assert len(hook_calls(hook_log, "on_pipeline_error")) == 1
        assert not list((demo_project / "data" / "out").glob("held_*.json"))
    finally:
        if driver.poll() is None:
            driver.kill()
        for pid in _marked_processes(marker):
            os.kill(pid, signal.SIGKILL)
