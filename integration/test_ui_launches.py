"""Runs Dagster launches itself, on `kedro dagster-runner ui` out of the box
(``runner.instance: project``: the project's own sqlite instance, no Postgres, no password):
a launchpad run, a schedule tick and a run-failure sensor of dagster.yml, each run through the
runner with Kedro's hook counts; the jobs and schedules written in kedro-dagster's format as
GraphQL and headless Chromium show them.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from conftest import Background, free_port, wait_for_port
from kedro_projects import DEMO_PROJECT, copy_project, hook_calls, kedro_runner
from test_ui import _wait_for_code_location, chromium, graphql

DAGSTER_YML = {
    "executors": {"serial": {"in_process": {}}},
    "schedules": {"every_minute": {"cron_schedule": "* * * * *", "execution_timezone": "UTC"}},
    "jobs": {
        "first_total": {
            "pipeline": {"pipeline_name": "__default__", "to_outputs": ["first.total"]},
            "executor": "serial",
            "schedule": "every_minute",
        },
    },
    "sensors": {
        "alert_on_failure": {
            "run_status": "FAILURE",
            "jobs": ["kedro_failing"],
            "hook": "demo_project.alerts:record",
            "launch": "first_total",
            "default_status": "RUNNING",
            "minimum_interval_seconds": 5,
        }
    },
    "runner": {"executor": "serial", "instance": "project"},
}

LAUNCH = """
mutation ($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message stack }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""
RUN = """
query ($id: ID!) { runOrError(runId: $id) { ... on Run { status jobName tags { key value } } } }
"""
RUNS_OF_JOB = """
query ($job: String!) {
  runsOrError(filter: {pipelineName: $job}) {
    ... on Runs { results { runId status tags { key value } } }
  }
}
"""
REPOSITORY = """
{ workspaceOrError { ... on Workspace { locationEntries { name locationOrLoadError {
  ... on RepositoryLocation { repositories { name
    jobs { name tags { key value } solidHandles { handleID } }
    schedules { name cronSchedule executionTimezone pipelineName scheduleState { status } }
    sensors { name sensorState { status } targets { pipelineName } }
  } } } } } } }
"""


@pytest.fixture
def start_ui(tmp_path: Path, worker_env: dict[str, str]) -> Iterator[Callable[..., tuple]]:
    """Start `kedro dagster-runner ui` on a fresh demo project with the given dagster.yml (and
    ``prepare(project)`` called first, when given): returns (project, url, env)."""
    servers: list[Background] = []

    def start(
        dagster_yml: dict, prepare: Callable[[Path], None] | None = None
    ) -> tuple[Path, str, dict[str, str]]:
        project = copy_project(DEMO_PROJECT, tmp_path / "demo_project")
        (project / "conf" / "base" / "dagster.yml").write_text(yaml.safe_dump(dagster_yml))
        if prepare is not None:
            prepare(project)
        env = {**worker_env, "DEMO_ALERTS_LOG": str(tmp_path / "alerts.jsonl")}
        env.pop("DAGSTER_HOME", None)
        port = free_port()
        server = Background(
            [sys.executable, "-m", "kedro", "dagster-runner", "ui", "--port", str(port)],
            project, env, tmp_path / "ui.log",
        )  # fmt: skip
        servers.append(server)
        wait_for_port(port, 180)
        url = f"http://127.0.0.1:{port}"
        _wait_for_code_location(url)
        return project, url, env

    yield start
    for server in servers:
        server.stop()


def _location(url: str) -> str:
    query = "{ workspaceOrError { ... on Workspace { locationEntries { name } } } }"
    return graphql(url, query)["workspaceOrError"]["locationEntries"][0]["name"]


def _launch(url: str, job: str) -> str:
    params = {
        "selector": {
            "repositoryLocationName": _location(url),
            "repositoryName": "__repository__",
            "pipelineName": job,
        },
        "runConfigData": "{}",
    }
    launched = graphql(url, LAUNCH, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


def _wait_for_end(url: str, run_id: str, seconds: float = 240) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run = graphql(url, RUN, {"id": run_id})["runOrError"]
        if run["status"] in {"SUCCESS", "FAILURE", "CANCELED"}:
            return run
        time.sleep(1)
    raise TimeoutError(f"run {run_id} did not end in {seconds} s")


def _wait_for_run_of(url: str, job: str, tag: str, seconds: float) -> dict:
    """The first finished run of ``job`` that has the tag ``tag`` (set by a schedule or a
    sensor)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        runs = graphql(url, RUNS_OF_JOB, {"job": job})["runsOrError"]["results"]
        for run in runs:
            tags = {t["key"]: t["value"] for t in run["tags"]}
            if tag in tags and run["status"] in {"SUCCESS", "FAILURE"}:
                return {**run, "tags": tags}
        time.sleep(2)
    raise TimeoutError(f"no run of {job} tagged {tag} within {seconds} s")


def _hooks_of(hook_log: Path, kedro_run_id: str) -> list[dict]:
    """The hook calls of one run: those of the process that fired its before_pipeline_run."""
    (start,) = [
        c for c in hook_calls(hook_log, "before_pipeline_run") if c["run_id"] == kedro_run_id
    ]
    return [call for call in hook_calls(hook_log) if call["pid"] == start["pid"]]


def _count(calls: list[dict], hook: str) -> Counter:
    return Counter(call.get("node", "") for call in calls if call["hook"] == hook)


def test_a_launchpad_run_runs_through_the_runner_with_kedros_hook_counts(start_ui) -> None:
    """The run the issue saw fail: a pipeline passing an undeclared in-memory dataset
    (`lock`), launched from the launchpad, on the UI's default project instance."""
    project, url, env = start_ui({**DAGSTER_YML, "sensors": {}})

    run = _wait_for_end(url, _launch(url, "kedro_unpicklable"))

    assert run["status"] == "SUCCESS", run
    tags = {t["key"]: t["value"] for t in run["tags"]}
    calls = _hooks_of(Path(env["DEMO_HOOK_LOG"]), tags["kedro/run_id"])
    assert _count(calls, "before_pipeline_run") == {"": 1}
    assert _count(calls, "after_pipeline_run") == {"": 1}
    assert _count(calls, "on_pipeline_error") == {}
    nodes = {"double": 1, "make_lock": 1, "use_lock": 1}
    assert _count(calls, "before_node_run") == nodes
    assert _count(calls, "after_node_run") == nodes
    assert (project / ".dagster_home" / "dagster.yaml").exists()  # the project's own instance


def test_a_schedule_tick_runs_its_job_through_the_runner(start_ui, tmp_path: Path) -> None:
    every_minute = {**DAGSTER_YML["schedules"]["every_minute"], "default_status": "RUNNING"}
    project, url, env = start_ui(
        {**DAGSTER_YML, "sensors": {}, "schedules": {"every_minute": every_minute}}
    )

    run = _wait_for_run_of(url, "first_total", "dagster/schedule_name", seconds=200)

    assert run["status"] == "SUCCESS", run
    assert run["tags"]["dagster/schedule_name"] == "first_total_every_minute_schedule"
    assert run["tags"]["kedro/job"] == "first_total"
    calls = _hooks_of(Path(env["DEMO_HOOK_LOG"]), run["tags"]["kedro/run_id"])
    assert _count(calls, "before_pipeline_run") == {"": 1}
    assert _count(calls, "after_pipeline_run") == {"": 1}
    nodes = {"double": 1, "first.shift": 1, "first.sum": 1}
    assert _count(calls, "before_node_run") == nodes
    assert _count(calls, "after_node_run") == nodes
    reference = copy_project(DEMO_PROJECT, tmp_path / "reference")
    expected = kedro_runner(reference, tmp_path / "reference")("--to-outputs", "first.total")
    assert expected.returncode == 0, expected.output
    written = (project / "data" / "out" / "first_total.json").read_bytes()
    assert written == (reference / "data" / "out" / "first_total.json").read_bytes()


def test_a_failure_sensor_calls_its_hook_and_launches_its_job(start_ui, tmp_path: Path) -> None:
    _, url, env = start_ui(DAGSTER_YML)

    failed = _wait_for_end(url, _launch(url, "kedro_failing"))
    assert failed["status"] == "FAILURE"
    calls = _hooks_of(
        Path(env["DEMO_HOOK_LOG"]),
        {t["key"]: t["value"] for t in failed["tags"]}["kedro/run_id"],
    )
    assert [c["error"] for c in calls if c["hook"] == "on_pipeline_error"] == ["ValueError"]

    launched = _wait_for_run_of(url, "first_total", "dagster/sensor_name", seconds=200)

    assert launched["status"] == "SUCCESS", launched
    assert launched["tags"]["dagster/sensor_name"] == "alert_on_failure"
    calls = _hooks_of(Path(env["DEMO_HOOK_LOG"]), launched["tags"]["kedro/run_id"])
    assert _count(calls, "before_pipeline_run") == {"": 1}
    assert _count(calls, "after_pipeline_run") == {"": 1}
    assert _count(calls, "after_node_run") == {"double": 1, "first.shift": 1, "first.sum": 1}
    (alert,) = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert alert["status"] == "FAILURE" and alert["job_name"] == "kedro_failing"
    assert alert["kedro_run_id"] == {t["key"]: t["value"] for t in failed["tags"]}["kedro/run_id"]


def test_jobs_schedules_and_sensors_of_dagster_yml_show_in_graphql_and_chromium(
    start_ui, tmp_path: Path
) -> None:
    second_stats = {
        "pipeline": {"pipeline_name": "__default__", "node_namespaces": ["second"]},
        "executor": "kd_pool",
    }
    _, url, _ = start_ui(
        {
            **DAGSTER_YML,
            "executors": {
                **DAGSTER_YML["executors"],
                "kd_pool": {"multiprocess": {"max_concurrent": 2, "retries": {"enabled": {}}}},
            },
            "jobs": {**DAGSTER_YML["jobs"], "second_stats": second_stats},
        }
    )

    (entry,) = graphql(url, REPOSITORY)["workspaceOrError"]["locationEntries"]
    (repository,) = entry["locationOrLoadError"]["repositories"]
    jobs = {job["name"]: job for job in repository["jobs"]}
    assert {"first_total", "second_stats", "kedro_default", "kedro_failing"} <= set(jobs)
    ops = {name: sorted(h["handleID"] for h in job["solidHandles"]) for name, job in jobs.items()}
    assert ops["first_total"] == ["double", "first__shift", "first__sum"]
    assert ops["second_stats"] == ["second__shift", "second__sum"]
    executors = {
        name: {t["key"]: t["value"] for t in job["tags"]}.get("kedro/executor")
        for name, job in jobs.items()
    }
    assert executors["first_total"] == "serial"
    assert executors["second_stats"] == "kd_pool"  # a kedro-dagster `multiprocess` entry
    assert executors["kedro_default"] == "serial"  # runner.executor
    (schedule,) = repository["schedules"]
    assert schedule == {
        "name": "first_total_every_minute_schedule",
        "cronSchedule": "* * * * *",
        "executionTimezone": "UTC",
        "pipelineName": "first_total",
        "scheduleState": {"status": "STOPPED"},
    }
    (sensor,) = repository["sensors"]
    assert sensor["name"] == "alert_on_failure"
    assert sensor["sensorState"]["status"] == "RUNNING"

    location = entry["name"]
    job_page = chromium(f"{url}/locations/{location}/jobs/first_total", tmp_path / "job.png")
    assert "first_total" in job_page and "first__sum" in job_page
    schedules_page = chromium(f"{url}/overview/automation", tmp_path / "automation.png")
    assert "first_total_every_minute_schedule" in schedules_page
    assert "alert_on_failure" in schedules_page
