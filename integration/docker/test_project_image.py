"""Containers: a project image runs `kedro run`; the docker and k8s executors run nodes in them.

The k8s executor runs against the project's Kubernetes API emulator (integration/k8s_emulator),
whose pods are Docker containers; no real cluster is involved.

The engine is started by the harness (bridge none: containers use the host network only), the
base image is built offline with debootstrap, and the project image from the local checkout.
The container's outputs must equal a host SequentialRunner run byte for byte: the image is built
with the host's package versions as constraints.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(HERE))

from conftest import k8s_project, start_dagster_celery_worker  # noqa: E402
from harness import containers_created, containers_with_label, ensure_engine  # noqa: E402
from kedro_projects import (  # noqa: E402
    EXAMPLE_PROJECT,
    RUNNER,
    VERSION,
    KedroRun,
    copy_project,
    kedro_runner,
    persisted_outputs,
)

LABEL_KEY = "org.kedro-dagster-runner.test"


@pytest.fixture(scope="module")
def label() -> Iterator[str]:
    """A label set on every container of this module; none may be left when it ends."""
    value = uuid.uuid4().hex
    yield f"{LABEL_KEY}={value}"
    assert _containers(f"{LABEL_KEY}={value}") == []


def _containers(label: str) -> list[str]:
    return containers_with_label(label)


def docker_run(image: str, label: str, *args: str, volumes: dict[Path, str] | None = None):
    command = ["docker", "run", "--rm", "--network", "host", "--label", label]
    for source, target in (volumes or {}).items():
        command += ["-v", f"{source}:{target}"]
    return subprocess.run(
        [*command, image, *args], capture_output=True, text=True, timeout=900, check=False
    )


@pytest.mark.timeout(3600)
def test_image_has_dagster_and_kedro_on_path(project_image: str, label: str) -> None:
    result = docker_run(project_image, label, "dagster", "--version")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "dagster, version 1.13" in result.stdout
    result = docker_run(
        project_image,
        label,
        "sh",
        "-c",
        "command -v dagster && command -v kedro && pwd && echo $KEDRO_DISABLE_TELEMETRY "
        "&& python -c 'import spaceflights, kedro_dagster_runner, dagster_docker, "
        "dagster_postgres'",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == [
        "/opt/venv/bin/dagster",
        "/opt/venv/bin/kedro",
        "/project",
        "true",
    ]


@pytest.mark.timeout(3600)
def test_container_run_writes_the_same_bytes_as_host_sequential_run(
    project_image: str, label: str, tmp_path: Path
) -> None:
    reference_project = copy_project(EXAMPLE_PROJECT, tmp_path / "sequential")
    reference = kedro_runner(reference_project, tmp_path)()
    assert reference.returncode == 0, reference.output

    container_project = copy_project(EXAMPLE_PROJECT, tmp_path / "container")
    result = docker_run(
        project_image,
        label,
        "kedro",
        "run",
        "--runner",
        RUNNER,
        volumes={container_project / "data": "/project/data"},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Completed 9 out of 9 tasks" in output

    expected = persisted_outputs(reference_project)
    actual = persisted_outputs(container_project)
    assert len(expected) == 7  # 3 parquet tables, 2 versioned models, 2 metrics files
    assert actual.keys() == expected.keys()
    for key in expected:
        assert actual[key] == expected[key], f"{key} differs"


def test_no_docker_bridge_network_exists() -> None:
    """The engine runs with --bridge=none: Docker never made a bridge network here."""
    if shutil.which("docker") is None:
        pytest.skip("no docker client")
    ensure_engine()
    drivers = subprocess.run(
        ["docker", "network", "ls", "--format", "{{.Driver}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "bridge" not in drivers


def _docker_executor_project(
    source: Path, target: Path, image: str, db_name: str, extra_volume: Path
) -> Path:
    import yaml

    project = copy_project(source, target)
    path = project / "conf" / "base" / "dagster.yml"
    config = yaml.safe_load(path.read_text()) if path.exists() else {}
    config.setdefault("executors", {})["containers"] = {
        "docker": {
            "image": image,
            "env_vars": ["DEMO_HOOK_LOG"],
            "volumes": [f"{extra_volume}:{extra_volume}"],
            "max_concurrent": 2,
        }
    }
    config["runner"] = {"executor": "containers", "instance": {"postgres": {"db_name": db_name}}}
    path.write_text(yaml.safe_dump(config))
    return project


def _step_containers(kedro_run_id: str | None = None) -> set[str]:
    """Step containers of one Kedro run, or of any run."""
    from kedro_dagster_runner.executors.docker import CONTAINER_LABEL

    label = f"{CONTAINER_LABEL}={kedro_run_id}" if kedro_run_id else CONTAINER_LABEL
    return set(_containers(label))


@pytest.mark.timeout(3600)
def test_docker_executor_runs_each_node_in_a_container(
    project_image: str, postgres_db: str, tmp_path: Path
) -> None:
    expected = _sequential_outputs(tmp_path)
    project = _docker_executor_project(
        EXAMPLE_PROJECT, tmp_path / "docker", project_image, postgres_db, tmp_path
    )
    before = _step_containers()  # the example project records no hooks, so no Kedro run id

    result = kedro_runner(project, tmp_path)(
        "--runner", RUNNER, env={"DAGSTER_PG_PASSWORD": "trust-auth"}
    )

    assert result.returncode == 0, result.output
    assert persisted_outputs(project) == expected
    assert _step_containers() <= before  # dagster-docker leaves them; the runner removes them


@pytest.mark.timeout(3600)
def test_docker_executor_hooks_fire_in_containers_and_failures_are_clean(
    project_image: str, postgres_db: str, tmp_path: Path
) -> None:
    from kedro_projects import DEMO_PROJECT

    project = _docker_executor_project(
        DEMO_PROJECT, tmp_path / "demo_project", project_image, postgres_db, tmp_path
    )
    run = kedro_runner(project, tmp_path)
    env = {"DAGSTER_PG_PASSWORD": "trust-auth"}

    result = run("--runner", RUNNER, env=env)
    assert result.returncode == 0, result.output
    node_hosts = {c["node"]: (c["pid"], c["host"]) for c in result.calls("before_node_run")}
    assert len(node_hosts) == 8
    driver_host = result.calls("before_pipeline_run")[0]["host"]
    assert all(host != driver_host or pid != result.driver_pid for pid, host in node_hosts.values())
    assert {c["save_version"] for c in result.calls("after_catalog_created")} == {result.run_id}

    failed = run("--runner", RUNNER, "--pipelines", "failing", env=env)
    assert failed.returncode != 0
    # the node's own exception, caused by the step container's traceback
    assert failed.output.rstrip().endswith("ValueError: explode refused 8 values")
    assert "Node 'explode' raised in process" in failed.output
    (node_error,) = failed.calls("on_node_error")
    assert node_error["pid"] != failed.driver_pid
    assert _step_containers(result.run_id) == _step_containers(failed.run_id) == set()


def _sequential_outputs(tmp_path: Path) -> dict[str, bytes]:
    """What Kedro's SequentialRunner writes for the example project, on the host."""
    reference_project = copy_project(EXAMPLE_PROJECT, tmp_path / "sequential")
    assert kedro_runner(reference_project, tmp_path)().returncode == 0
    return persisted_outputs(reference_project)


def _edit_dagster_yml(project: Path, edit: Callable[[dict], None]) -> None:
    import yaml

    path = project / "conf" / "base" / "dagster.yml"
    config = yaml.safe_load(path.read_text()) if path.exists() else {}
    edit(config)
    path.write_text(yaml.safe_dump(config))


def _run_with_a_dagster_celery_worker(
    project: Path, entry: dict, kind: str, worker_env: dict[str, str]
) -> tuple[KedroRun, str]:
    """`kedro run` of ``project`` while a `dagster-celery worker start -A dagster_<kind>.app`
    worker serves the executor ``entry``; the run and the worker's log."""
    env = {**worker_env, "DAGSTER_PG_PASSWORD": "trust-auth"}
    log = project.parent / f"{kind}-worker.log"
    worker = start_dagster_celery_worker(project, entry, env, log, f"dagster_{kind}.app", kind)
    try:
        return kedro_runner(project, project.parent)("--runner", RUNNER, env=env), worker.output()
    finally:
        worker.stop()


def _containers_created(kedro_run_id: str, since: float) -> int:
    """How many step containers the Docker engine created for one Kedro run since ``since``
    (the runner removes them after the run; the engine's events keep the count)."""
    from kedro_dagster_runner.executors.docker import CONTAINER_LABEL

    return containers_created(f"{CONTAINER_LABEL}={kedro_run_id}", since)


@pytest.mark.timeout(3600)
@pytest.mark.parametrize("strategy", ["namespace", "memory_chains"])
def test_grouped_nodes_take_one_container_per_group(
    project_image: str, postgres_db: str, tmp_path: Path, strategy: str
) -> None:
    """The example's 9 nodes: 3 of data processing, and 3 in each of two modelling namespaces
    joined by in-memory splits. Grouped, each namespace is one container: 5 instead of 9."""

    expected = _sequential_outputs(tmp_path)
    project = _docker_executor_project(
        EXAMPLE_PROJECT, tmp_path / "docker", project_image, postgres_db, tmp_path
    )
    _edit_dagster_yml(project, lambda config: config["runner"].update(group_nodes=strategy))
    since = time.time() - 1

    result = kedro_runner(project, tmp_path)(
        "--runner", RUNNER, env={"DAGSTER_PG_PASSWORD": "trust-auth"}
    )

    assert result.returncode == 0, result.output
    assert persisted_outputs(project) == expected
    assert _containers_created(_save_version(project), since) == 5
    assert "Completed 9 out of 9 tasks" in " ".join(result.output.split())


@pytest.mark.timeout(3600)
def test_celery_docker_workers_start_a_container_per_node(
    project_image: str,
    postgres_db: str,
    redis_url: str,
    queue_name: str,
    worker_env: dict[str, str],
    tmp_path: Path,
) -> None:
    """kind celery_docker: `dagster-celery worker start -A dagster_celery_docker.app` workers on
    Redis take each node as a task and run it in a container of the project image."""
    expected = _sequential_outputs(tmp_path)
    project = copy_project(EXAMPLE_PROJECT, tmp_path / "celery_docker")
    entry = {
        "broker": f"{redis_url}/4",
        "backend": f"{redis_url}/5",
        "default_queue": queue_name,
        "docker": {"image": project_image, "env_vars": ["DAGSTER_PG_PASSWORD"]},
    }

    def use_the_fleet(config: dict) -> None:
        config.setdefault("executors", {})["fleet"] = {"celery_docker": entry}
        config["runner"] = {"executor": "fleet", "instance": {"postgres": {"db_name": postgres_db}}}

    _edit_dagster_yml(project, use_the_fleet)
    since = time.time() - 1

    result, worker_log = _run_with_a_dagster_celery_worker(
        project, entry, "celery_docker", worker_env
    )

    assert result.returncode == 0, result.output + worker_log
    assert persisted_outputs(project) == expected
    run_id = _save_version(project)
    assert _containers_created(run_id, since) == 9  # one per node, started by the worker
    assert _step_containers(run_id) == set()
    assert "execute_step_docker" in worker_log


def _k8s_project(
    source: Path, target: Path, image: str, db_name: str, emulator, runner: dict | None = None
) -> Path:
    options = {
        "env_vars": ["DEMO_HOOK_LOG"],
        "default_resources": {"requests": {"cpu": "100m", "memory": "256Mi"}},
        "resources": {"training": {"limits": {"cpu": "1", "memory": "1Gi"}}},
    }
    return k8s_project(source, target, image, db_name, emulator, "trust-auth", options, runner)


def _jobs_left(project: Path) -> list[str]:
    """Jobs still in the emulated API (the runner deletes its step Jobs after the run)."""
    import kubernetes

    config = str(project / "kubeconfig.yaml")
    batch = kubernetes.client.BatchV1Api(kubernetes.config.new_client_from_config(config))
    return [job.metadata.name for job in batch.list_namespaced_job("default").items]


@pytest.mark.timeout(3600)
def test_k8s_executor_runs_nodes_as_jobs_on_the_emulated_api(
    project_image: str, postgres_db: str, emulator, tmp_path: Path
) -> None:
    expected = _sequential_outputs(tmp_path)
    project = _k8s_project(EXAMPLE_PROJECT, tmp_path / "k8s", project_image, postgres_db, emulator)

    result = kedro_runner(project, tmp_path)(
        "--runner", RUNNER, env={"DAGSTER_PG_PASSWORD": "trust-auth"}
    )

    assert result.returncode == 0, result.output
    assert persisted_outputs(project) == expected
    assert len(emulator.validated_jobs) == 9  # one strictly schema-checked Job per node
    assert _jobs_left(project) == []


@pytest.mark.timeout(3600)
def test_grouped_nodes_take_one_pod_per_group_on_the_emulated_api(
    project_image: str, postgres_db: str, emulator, tmp_path: Path
) -> None:
    expected = _sequential_outputs(tmp_path)
    project = _k8s_project(
        EXAMPLE_PROJECT, tmp_path / "k8s", project_image, postgres_db, emulator,
        runner={"group_nodes": "namespace"},
    )  # fmt: skip

    result = kedro_runner(project, tmp_path)(
        "--runner", RUNNER, env={"DAGSTER_PG_PASSWORD": "trust-auth"}
    )

    assert result.returncode == 0, result.output
    assert persisted_outputs(project) == expected
    assert len(emulator.validated_jobs) == 5  # 3 nodes + 2 namespaces, instead of 9 Jobs
    assert _jobs_left(project) == []


@pytest.mark.timeout(3600)
def test_k8s_executor_hooks_fire_in_pods_and_failures_are_clean(
    project_image: str, postgres_db: str, emulator, tmp_path: Path
) -> None:
    from kedro_projects import DEMO_PROJECT

    project = _k8s_project(
        DEMO_PROJECT, tmp_path / "demo_project", project_image, postgres_db, emulator
    )
    run = kedro_runner(project, tmp_path)
    env = {"DAGSTER_PG_PASSWORD": "trust-auth"}
    hook_log = project / "hooks.jsonl"  # inside the project: the pods write to it too

    result = run("--runner", RUNNER, env=env, hook_log=hook_log)
    assert result.returncode == 0, result.output
    node_pids = {c["node"]: c["pid"] for c in result.calls("before_node_run")}
    assert len(node_pids) == 8 and result.driver_pid not in node_pids.values()
    assert {c["save_version"] for c in result.calls("after_catalog_created")} == {result.run_id}

    hook_log.unlink()
    failed = run("--runner", RUNNER, "--pipelines", "failing", env=env, hook_log=hook_log)
    assert failed.returncode != 0
    assert failed.output.rstrip().endswith("ValueError: explode refused 8 values")
    (node_error,) = failed.calls("on_node_error")
    assert node_error["pid"] != failed.driver_pid
    assert _jobs_left(project) == []


@pytest.mark.timeout(3600)
def test_celery_k8s_workers_run_each_node_as_a_job_on_the_emulated_api(
    project_image: str,
    postgres_db: str,
    emulator,
    redis_url: str,
    queue_name: str,
    worker_env: dict[str, str],
    tmp_path: Path,
) -> None:
    """kind celery_k8s: `dagster-celery worker start -A dagster_celery_k8s.app` workers on Redis
    create a Kubernetes Job per node (on the project's emulator of the API), with the
    CeleryK8sRunLauncher on the run's instance as dagster-celery-k8s requires."""
    expected = _sequential_outputs(tmp_path)
    project = _k8s_project(
        EXAMPLE_PROJECT, tmp_path / "celery_k8s", project_image, postgres_db, emulator
    )
    entry = {
        "broker": f"{redis_url}/6", "backend": f"{redis_url}/7", "default_queue": queue_name,
        "job_wait_timeout": 300,
    }  # fmt: skip

    def use_the_fleet(config: dict) -> None:
        k8s = config["executors"]["cluster"]["k8s"]
        entry.update(  # the workers create the Jobs: no variables by name, no max_concurrent
            {key: value for key, value in k8s.items() if key not in ("env_vars", "max_concurrent")}
        )
        config["executors"]["fleet"] = {"celery_k8s": entry}
        config["runner"]["executor"] = "fleet"

    _edit_dagster_yml(project, use_the_fleet)

    result, worker_log = _run_with_a_dagster_celery_worker(project, entry, "celery_k8s", worker_env)

    assert result.returncode == 0, result.output + worker_log
    assert persisted_outputs(project) == expected
    assert len(emulator.validated_jobs) == 9  # one strictly schema-checked Job per node
    assert _jobs_left(project) == []


def _save_version(project: Path) -> str:
    """The one save version of the project's versioned outputs: Kedro's run id."""
    found = {VERSION.search(str(path)) for path in (project / "data").rglob("*")}
    (version,) = {match[0] for match in found if match}
    return version


@pytest.mark.timeout(3600)
def test_k8s_cleanup_failure_is_logged_and_the_run_keeps_its_outcome(
    project_image: str, postgres_db: str, emulator, tmp_path: Path
) -> None:
    """The API refuses to delete the run's Jobs after it succeeded: `kedro run` still exits 0
    with every output written, and warns that the Jobs of that run could not be deleted."""
    expected = _sequential_outputs(tmp_path)
    project = _k8s_project(EXAMPLE_PROJECT, tmp_path / "k8s", project_image, postgres_db, emulator)
    emulator.fail_job_deletes = True  # every DELETE of a Job answers HTTP 500

    result = kedro_runner(project, tmp_path)(
        "--runner", RUNNER, env={"DAGSTER_PG_PASSWORD": "trust-auth"}
    )

    assert result.returncode == 0, result.output
    assert persisted_outputs(project) == expected
    run_id = _save_version(project)
    output = " ".join(result.output.split())  # rich wraps long log lines
    assert f"Could not delete the containers or Jobs of run {run_id}: (500)" in output, output
    # the warning is about the refused deletion: the run's Jobs are all still in the API
    assert emulator.refused_job_deletes
    assert set(emulator.refused_job_deletes) <= set(emulator.validated_jobs)
    assert sorted(_jobs_left(project)) == sorted(emulator.validated_jobs)
    assert len(emulator.validated_jobs) == 9
