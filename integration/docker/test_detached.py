"""Detached submission: the instance's run launcher starts the run in a container or a pod.

`runner.submit: detached` records the run in Postgres and hands it to dagster-docker's
DockerRunLauncher (a real container on the host's Docker engine) or to dagster-k8s's
K8sRunLauncher (a Job on the project's Kubernetes API emulator, whose pods are Docker containers).
With `wait: true` kedro run follows the run's events to the end; without it kedro run returns and
the run goes on.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))

from conftest import k8s_project, postgres_instance
from harness import containers_with_label
from kedro_projects import (
    DEMO_PROJECT,
    EXAMPLE_PROJECT,
    RUNNER,
    copy_project,
    kedro_runner,
    persisted_outputs,
)

from kedro_dagster_runner.executors.docker import CONTAINER_LABEL

PASSWORD_ENV = {"DAGSTER_PG_PASSWORD": "pw-by-env-only"}  # trust auth: any value is accepted
WEBSERVER = "http://127.0.0.1:3999"
RUN_LINK = re.compile(re.escape(WEBSERVER) + r"/runs/([0-9a-f-]{36})")


def _detached_project(
    source: Path, target: Path, image: str, db_name: str, executor: str, **runner: object
) -> Path:
    """A copy of ``source`` whose runs are launched in a container of ``image``."""
    project = copy_project(source, target)
    path = project / "conf" / "base" / "dagster.yml"
    config = yaml.safe_load(path.read_text()) if path.exists() else {}
    executors = config.setdefault("executors", {})
    executors["containers"] = {
        "docker": {
            "image": image,
            "env_vars": ["DEMO_HOOK_LOG"],
            "volumes": [f"{target.parent}:{target.parent}"],  # the hook log of the demo project
        }
    }
    executors["pool"] = {"multiprocess": {"max_concurrent": 2}}
    executors["serial"] = {"in_process": {}}
    config["runner"] = {
        "executor": executor,
        "instance": {"postgres": {"db_name": db_name, "webserver_url": WEBSERVER}},
        "submit": "detached",
        "launcher": "containers",
        **runner,
    }
    path.write_text(yaml.safe_dump(config))
    return project


def _dagster_run_id(output: str) -> str:
    match = RUN_LINK.search(output)
    assert match, f"no run link in:\n{output}"
    return match.group(1)


def _engine_messages(instance, run_id: str) -> str:
    return "\n".join(
        record.event_log_entry.dagster_event.message or ""
        for record in instance.get_records_for_run(run_id).records
        if record.event_log_entry.dagster_event is not None
    )


def _handoff_dirs(kedro_run_id: str) -> list[Path]:
    from kedro_dagster_runner.workers.handoff import detached_handoff_root

    return sorted(detached_handoff_root().glob(f"{kedro_run_id}-*"))


def _run_containers(kedro_run_id: str) -> list[str]:
    """The run worker and step containers of one Kedro run."""
    return containers_with_label(f"{CONTAINER_LABEL}={kedro_run_id}")


@pytest.mark.timeout(3600)
def test_followed_run_executes_in_a_run_container_and_matches_a_sequential_run(
    project_image: str, postgres_db: str, tmp_path: Path
) -> None:
    reference_project = copy_project(EXAMPLE_PROJECT, tmp_path / "sequential")
    assert kedro_runner(reference_project, tmp_path)().returncode == 0
    project = _detached_project(
        EXAMPLE_PROJECT, tmp_path / "detached", project_image, postgres_db, "pool", wait=True,
        run_retries=1, run_priority=5, max_runtime=3600,
    )  # fmt: skip

    result = kedro_runner(project, tmp_path)("--runner", RUNNER, env=PASSWORD_ENV)

    assert result.returncode == 0, result.output
    assert persisted_outputs(project) == persisted_outputs(reference_project)
    assert "Completed 9 out of 9 tasks" in result.output  # progress read back from Postgres
    run_id = _dagster_run_id(result.output)
    instance = postgres_instance(postgres_db, tmp_path / "home")
    dagster_run = instance.get_run_by_id(run_id)
    assert dagster_run.status.value == "SUCCESS"
    assert dagster_run.tags["kedro/submit"] == "detached"
    assert {key: dagster_run.tags[key] for key in ("dagster/max_retries", "dagster/priority",
            "dagster/max_runtime")} == {"dagster/max_retries": "1", "dagster/priority": "5",
                                        "dagster/max_runtime": "3600"}  # fmt: skip
    assert "Launching run in a new container" in _engine_messages(instance, run_id)
    assert _run_containers(dagster_run.tags["kedro/run_id"]) == []  # the run worker is removed
    assert _handoff_dirs(dagster_run.tags["kedro/run_id"]) == []


@pytest.mark.timeout(3600)
def test_followed_run_reports_node_failures_and_hooks_fire_in_the_container(
    project_image: str, postgres_db: str, tmp_path: Path
) -> None:
    project = _detached_project(
        DEMO_PROJECT, tmp_path / "demo", project_image, postgres_db, "serial", wait=True
    )
    run = kedro_runner(project, tmp_path)

    result = run("--runner", RUNNER, env=PASSWORD_ENV)
    assert result.returncode == 0, result.output
    assert result.nodes_run() == sorted(
        ["double", "summarise", "make_report", "spread"]
        + [f"{ns}.{name}" for ns in ("first", "second") for name in ("shift", "sum")]
    )
    driver = result.calls("before_pipeline_run")[0]
    worker_pids = {call["pid"] for call in result.calls("before_node_run")}
    assert len(worker_pids) == 1 and driver["pid"] not in worker_pids  # one run worker
    assert result.output.count("spread of 8 values") == 1  # a node's log, read from the event log

    failed = run("--runner", RUNNER, "--pipelines", "failing", env=PASSWORD_ENV)
    assert failed.returncode != 0
    # the node's own exception, caused by the run worker's traceback, as under ParallelRunner
    assert failed.output.rstrip().endswith("ValueError: explode refused 8 values")
    assert "Node 'explode' raised in process" in failed.output
    assert "--from-nodes" in failed.output  # Kedro's resume hint
    (node_error,) = failed.calls("on_node_error")
    assert node_error["pid"] != failed.driver_pid
    assert [c["hook"] for c in failed.hooks if "pipeline" in c["hook"]] == [
        "before_pipeline_run",
        "on_pipeline_error",
    ]
    assert _run_containers(result.run_id) == [] and _run_containers(failed.run_id) == []


@pytest.mark.timeout(3600)
def test_unfollowed_run_returns_at_once_and_finishes_on_its_own(
    project_image: str, postgres_db: str, tmp_path: Path
) -> None:
    reference_project = copy_project(EXAMPLE_PROJECT, tmp_path / "sequential")
    assert kedro_runner(reference_project, tmp_path)().returncode == 0
    project = _detached_project(
        EXAMPLE_PROJECT, tmp_path / "detached", project_image, postgres_db, "serial"
    )

    result = kedro_runner(project, tmp_path)("--runner", RUNNER, env=PASSWORD_ENV)

    assert result.returncode == 0, result.output
    assert "goes on in DockerRunLauncher" in result.output
    assert "Completed node" not in result.output
    run_id = _dagster_run_id(result.output)
    instance = postgres_instance(postgres_db, tmp_path / "home")
    deadline = time.monotonic() + 600
    while not instance.get_run_by_id(run_id).is_finished and time.monotonic() < deadline:
        time.sleep(1)
    dagster_run = instance.get_run_by_id(run_id)
    assert dagster_run.status.value == "SUCCESS", _engine_messages(instance, run_id)
    assert persisted_outputs(project) == persisted_outputs(reference_project)
    kedro_run_id = dagster_run.tags["kedro/run_id"]
    assert _handoff_dirs(kedro_run_id) == []  # nobody waited: the run removed its store

    containers = _run_containers(kedro_run_id)
    try:
        (container,) = containers  # Dagster leaves the run worker of an unfollowed run
        inspected = subprocess.run(
            ["docker", "inspect", "--format", "{{json .Args}}", container],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "execute_run" in inspected
        assert PASSWORD_ENV["DAGSTER_PG_PASSWORD"] not in inspected  # by env var name only
    finally:
        subprocess.run(["docker", "rm", "-f", *containers], check=False, capture_output=True)


@pytest.mark.timeout(3600)
def test_a_run_worker_that_dies_fails_the_followed_run(
    project_image: str, postgres_db: str, tmp_path: Path
) -> None:
    project = _detached_project(
        DEMO_PROJECT, tmp_path / "demo", project_image, postgres_db, "serial", wait=True
    )
    hook_log = tmp_path / "hooks.jsonl"
    env = {
        **os.environ,
        **PASSWORD_ENV,
        "DEMO_HOOK_LOG": str(hook_log),
        "KEDRO_DISABLE_TELEMETRY": "true",
        "COLUMNS": "200",
    }
    command = [sys.executable, "-m", "kedro", "run", "--runner", RUNNER, "--pipelines", "waiting"]
    driver = subprocess.Popen(
        command, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 300
        while "wait_for_release" not in (hook_log.read_text() if hook_log.exists() else ""):
            assert driver.poll() is None, driver.stdout.read()
            assert time.monotonic() < deadline, "the node never started in the run worker"
            time.sleep(0.5)
        calls = [json.loads(line) for line in hook_log.read_text().splitlines()]
        (kedro_run_id,) = [c["run_id"] for c in calls if c["hook"] == "before_pipeline_run"]
        (container,) = _run_containers(kedro_run_id)
        subprocess.run(["docker", "kill", container], check=True, capture_output=True)
        output, _ = driver.communicate(timeout=120)
    finally:
        driver.kill()
        (project / "data" / "out").mkdir(parents=True, exist_ok=True)
        (project / "data" / "out" / "release").touch()  # lets a run worker left behind finish
    assert driver.returncode != 0
    text = " ".join(output.split())  # the terminal wraps long lines
    assert "The run worker of Dagster run" in text and "is gone: Container status is" in text
    assert "Nodes still running then: wait_for_release" in text
    run_id = _dagster_run_id(output)
    instance = postgres_instance(postgres_db, tmp_path / "home")
    assert instance.get_run_by_id(run_id).status.value == "FAILURE"
    assert _run_containers(kedro_run_id) == []


@pytest.mark.timeout(3600)
def test_a_launch_that_fails_names_the_launcher_and_keeps_no_data(
    project_image: str, postgres_db: str, tmp_path: Path
) -> None:
    project = _detached_project(
        DEMO_PROJECT, tmp_path / "demo", "kdr-missing:nowhere", postgres_db, "serial", wait=True
    )

    result = kedro_runner(project, tmp_path)("--runner", RUNNER, env=PASSWORD_ENV)

    assert result.returncode != 0
    assert "DockerRunLauncher could not start Dagster run" in result.output
    assert result.calls("before_node_run") == []
    assert _handoff_dirs(result.run_id) == []
    assert _run_containers(result.run_id) == []  # created, never started: removed too


@pytest.mark.timeout(3600)
def test_run_worker_container_starts_a_container_per_node(
    project_image: str, postgres_db: str, tmp_path: Path
) -> None:
    project = _detached_project(
        DEMO_PROJECT, tmp_path / "demo", project_image, postgres_db, "containers", wait=True
    )
    path = project / "conf" / "base" / "dagster.yml"
    config = yaml.safe_load(path.read_text())
    options = config["executors"]["containers"]["docker"]
    options["volumes"].append("/var/run/docker.sock:/var/run/docker.sock")  # engine access
    options["env_vars"].append("SHARED_TOKEN")
    path.write_text(yaml.safe_dump(config))

    result = kedro_runner(project, tmp_path)(
        "--runner", RUNNER, env={**PASSWORD_ENV, "SHARED_TOKEN": "tok-by-name"}
    )

    assert result.returncode == 0, result.output
    node_pids = {call["pid"] for call in result.calls("before_node_run")}
    assert len(result.calls("before_node_run")) == 8
    assert result.driver_pid not in node_pids
    instance = postgres_instance(postgres_db, tmp_path / "home")
    run_id = _dagster_run_id(result.output)
    messages = _engine_messages(instance, run_id)
    assert "Launching run in a new container" in messages
    assert messages.count("Launching step") == 8  # the run worker started one per node
    run_config = str(instance.get_run_by_id(run_id).run_config)
    assert "SHARED_TOKEN" in run_config and "tok-by-name" not in run_config  # names only
    assert PASSWORD_ENV["DAGSTER_PG_PASSWORD"] not in run_config
    assert _run_containers(result.run_id) == []


def _k8s_detached_project(source: Path, target: Path, image: str, db_name: str, emulator) -> Path:
    runner = {
        "instance": {"postgres": {"db_name": db_name, "webserver_url": WEBSERVER}},
        "submit": "detached",
        "wait": True,
    }
    password = PASSWORD_ENV["DAGSTER_PG_PASSWORD"]
    return k8s_project(source, target, image, db_name, emulator, password, runner=runner)


@pytest.mark.timeout(3600)
def test_k8s_run_worker_job_starts_a_job_per_node_on_the_emulated_api(
    project_image: str, postgres_db: str, emulator, tmp_path: Path
) -> None:
    import kubernetes

    reference_project = copy_project(EXAMPLE_PROJECT, tmp_path / "sequential")
    assert kedro_runner(reference_project, tmp_path)().returncode == 0
    project = _k8s_detached_project(
        EXAMPLE_PROJECT, tmp_path / "k8s", project_image, postgres_db, emulator
    )

    result = kedro_runner(project, tmp_path)("--runner", RUNNER, env=PASSWORD_ENV)

    assert result.returncode == 0, result.output
    assert persisted_outputs(project) == persisted_outputs(reference_project)
    assert "Completed 9 out of 9 tasks" in result.output
    jobs = emulator.validated_jobs
    assert len(jobs) == 10  # the run worker Job, then one Job per node, all schema-checked
    assert jobs[0].startswith("dagster-run-")
    config = str(project / "kubeconfig.yaml")
    batch = kubernetes.client.BatchV1Api(kubernetes.config.new_client_from_config(config))
    assert batch.list_namespaced_job("default").items == []  # deleted after the followed run
