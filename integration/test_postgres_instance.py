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
