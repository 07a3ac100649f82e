"""Runs recorded in a shared Postgres-backed Dagster instance, with the password kept out of it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from conftest import postgres_instance
from kedro_projects import RUNNER, KedroRunner

SECRET = "s3cret-Pw-never-stored"


def _point_at_postgres(project: Path, db_name: str) -> None:
    path = project / "conf" / "base" / "dagster.yml"
    config = yaml.safe_load(path.read_text())
    config["runner"]["instance"] = {
        "postgres": {
            "db_name": db_name,
            "credentials": "dagster_db",
            "webserver_url": "http://127.0.0.1:3000",
        }
    }
    path.write_text(yaml.safe_dump(config))
    (project / "conf" / "mp" / "credentials.yml").write_text(
        yaml.safe_dump({"dagster_db": {"password": SECRET}})
    )


def test_run_is_recorded_with_tags_steps_and_no_password(
    demo: tuple[Path, KedroRunner], postgres_db: str, tmp_path: Path
) -> None:
    project, run = demo
    _point_at_postgres(project, postgres_db)

    result = run("--runner", RUNNER, "--env", "mp")

    assert result.returncode == 0, result.output
    assert "Dagster run: http://127.0.0.1:3000/runs/" in result.output
    instance = postgres_instance(postgres_db, tmp_path / "home")
    (dagster_run,) = [r for r in instance.get_runs() if r.tags.get("kedro/run_id") == result.run_id]
    assert dagster_run.status.value == "SUCCESS"
    assert dagster_run.tags["kedro/env"] == "mp"
    assert dagster_run.tags["kedro/pipeline"] == "__default__"
    steps = {s.step_key: s.status.value for s in instance.get_run_step_stats(dagster_run.run_id)}
    assert steps == {
        op: "SUCCESS"
        for op in ("double", "first__shift", "first__sum", "second__shift", "second__sum",
                   "summarise", "make_report", "spread")
    }  # fmt: skip
    stored = [str(dagster_run), *(str(e) for e in instance.all_logs(dagster_run.run_id))]
    assert not [text for text in stored if SECRET in text]
    assert SECRET not in result.output


def test_the_password_from_credentials_is_not_left_in_the_process(
    demo: tuple[Path, KedroRunner], postgres_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The driver exports the instance's password from credentials.yml for the run only."""
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    from kedro_dagster_runner import DagsterRunner

    project, _ = demo
    _point_at_postgres(project, postgres_db)
    monkeypatch.delenv("DAGSTER_PG_PASSWORD", raising=False)

    bootstrap_project(project)
    with KedroSession.create(project_path=project, env="mp") as session:
        session.run(runner=DagsterRunner(executor="in_process"))

    assert "DAGSTER_PG_PASSWORD" not in os.environ
    assert SECRET not in os.environ.values()


def test_pool_workers_never_get_the_instance_password(
    demo: tuple[Path, KedroRunner], postgres_db: str, tmp_path: Path
) -> None:
    """Pool workers (and the forkserver they are forked from) run nodes only: the instance's
    password, exported in the driver from credentials.yml, is not in their environment."""
    import json
    import signal
    import subprocess
    import sys
    import time

    project, _ = demo
    _point_at_postgres(project, postgres_db)
    hook_log, release = tmp_path / "hooks.jsonl", tmp_path / "release"
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_PG_PASSWORD"}
    driver = subprocess.Popen(
        [sys.executable, "-m", "kedro", "run", "--runner", RUNNER, "--env", "mp",
         "--pipelines", "held", "--params", f"release={release}"],
        cwd=project, env={**env, "DEMO_HOOK_LOG": str(hook_log)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while True:
            lines = hook_log.read_text().splitlines() if hook_log.exists() else []
            starts = [c for c in map(json.loads, lines) if c["hook"] == "before_node_run"]
            if len(starts) == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert len(starts) == 2, "the nodes did not start in pool workers"
        workers = {call["pid"] for call in starts}
        forkservers = {int(Path(f"/proc/{pid}/stat").read_text().split()[3]) for pid in workers}
        for pid in workers | forkservers:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
            assert b"DAGSTER_PG_PASSWORD" not in environ, pid
            assert SECRET.encode() not in environ, pid
        assert driver.pid not in workers | forkservers
        release.touch()
        assert driver.wait(timeout=120) == 0
    finally:
        if driver.poll() is None:
            driver.send_signal(signal.SIGKILL)


def test_a_trust_authenticated_server_needs_no_password_variable(
    demo: tuple[Path, KedroRunner],
    postgres_db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The machine's Postgres trusts local connections: no credentials entry, no variable (not
    even an empty one), and the run is recorded."""
    project, run = demo
    path = project / "conf" / "base" / "dagster.yml"
    config = yaml.safe_load(path.read_text())
    config["runner"]["instance"] = {"postgres": {"db_name": postgres_db}}
    path.write_text(yaml.safe_dump(config))
    monkeypatch.delenv("DAGSTER_PG_PASSWORD", raising=False)  # the run's environment has none

    result = run("--runner", RUNNER, "--env", "mp")

    assert result.returncode == 0, result.output
    instance = postgres_instance(postgres_db, tmp_path / "home")
    (dagster_run,) = [r for r in instance.get_runs() if r.tags.get("kedro/run_id") == result.run_id]
    assert dagster_run.status.value == "SUCCESS"
