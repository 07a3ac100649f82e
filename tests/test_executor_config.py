"""Run config the container executors get: mounts, env by name, labels, per-node resources."""

from __future__ import annotations

import pytest
from kedro_projects import needs_runner_params

from kedro_dagster_runner.config import resolve_config
from kedro_dagster_runner.errors import ConfigError
from kedro_dagster_runner.executors.docker import (
    CONTAINER_LABEL,
    docker_run_config,
    docker_run_launcher_config,
)
from kedro_dagster_runner.executors.k8s import (
    K8S_RUN_LABEL,
    k8s_detached_launcher_config,
    k8s_label_value,
    k8s_run_config,
    k8s_run_launcher_config,
)
from kedro_dagster_runner.spec import NodeSpec, ProjectSpec, RunSpec

RUN_ID = "2026-11-21T21.09.56.648Z"


def _spec() -> RunSpec:
    return RunSpec(
        run_id=RUN_ID,
        job_name="kedro_default",
        nodes=[
            NodeSpec("prep", "prep", ["raw"], ["clean"], ["cheap"]),
            NodeSpec("ns.train", "ns__train", ["clean"], ["model"], ["gpu", "training"]),
        ],
        executor_kind="k8s",
        handoff_uri="/tmp/handoff-root/run-1234",
        project=ProjectSpec("/srv/project", "pkg", "prod", "/srv/project/conf"),
    )


def _options(kind: str, **options: object) -> dict:
    runner = {"executor": kind, "instance": {"postgres": {}}}  # container kinds need a shared one
    return resolve_config({"runner": runner}, options).executor.options


def test_docker_steps_see_project_and_handoff_and_get_env_by_name() -> None:
    options = _options("docker", image="proj:1", env_vars=["AWS_PROFILE"], volumes=["/d:/d"])
    config = docker_run_config(options, _spec(), ["DAGSTER_PG_PASSWORD"])

    assert config["image"] == "proj:1"
    assert config["networks"] == ["host"]
    assert config["env_vars"] == [
        "KEDRO_DISABLE_TELEMETRY=true",  # a value: the kedro run process may not have it set
        "AWS_PROFILE",
        "DAGSTER_PG_PASSWORD",
    ]
    assert config["container_kwargs"]["volumes"] == [
        "/d:/d",
        "/srv/project:/srv/project",
        "/tmp/handoff-root:/tmp/handoff-root",
    ]
    assert config["container_kwargs"]["labels"] == {CONTAINER_LABEL: RUN_ID}


def test_env_values_are_refused_in_the_config() -> None:
    with pytest.raises(ConfigError, match="names only"):
        _options("docker", image="proj:1", env_vars=["PASSWORD=hunter2"])
    with pytest.raises(ConfigError, match="names only"):
        _options("k8s", image="proj:1", env_vars=["TOKEN=abc"])


def test_k8s_resources_follow_kedro_tags_and_secrets_come_from_secrets() -> None:
    options = _options(
        "k8s",
        image="proj:1",
        namespace="kedro",
        env_secrets=["dagster-pg"],
        default_resources={"requests": {"cpu": "250m"}},
        resources={"gpu": {"limits": {"nvidia.com/gpu": "1"}}},
        kubeconfig_file="/home/me/.kube/config",
    )
    config = k8s_run_config(options, _spec())

    assert config["per_step_k8s_config"] == {
        "ns__train": {"container_config": {"resources": {"limits": {"nvidia.com/gpu": "1"}}}}
    }
    assert config["resources"] == {"requests": {"cpu": "250m"}}
    assert config["env_secrets"] == ["dagster-pg"]
    assert config["load_incluster_config"] is False  # a kubeconfig file means off-cluster
    assert config["kubeconfig_file"] == "/home/me/.kube/config"
    assert config["labels"][K8S_RUN_LABEL] == k8s_label_value(RUN_ID) == RUN_ID
    assert config["volumes"] == []  # nothing from the host unless asked


def test_k8s_mount_project_uses_host_paths() -> None:
    config = k8s_run_config(_options("k8s", image="proj:1", mount_project=True), _spec())

    assert [v["host_path"]["path"] for v in config["volumes"]] == [
        "/srv/project",
        "/tmp/handoff-root",
    ]
    assert [m["mount_path"] for m in config["volume_mounts"]] == [
        "/srv/project",
        "/tmp/handoff-root",
    ]


def test_k8s_run_launcher_reaches_the_same_cluster() -> None:
    options = _options("k8s", image="proj:1", kubeconfig_file="/k", namespace="kedro")
    launcher = k8s_run_launcher_config(options)

    assert launcher["class"] == "K8sRunLauncher"
    assert launcher["config"]["load_incluster_config"] is False
    assert launcher["config"]["kubeconfig_file"] == "/k"
    assert launcher["config"]["job_namespace"] == "kedro"


def test_docker_run_launcher_gets_what_step_containers_get() -> None:
    options = _options("docker", image="proj:1", env_vars=["AWS_PROFILE"], max_concurrent=2)
    launcher = docker_run_launcher_config(options, _spec(), ["DAGSTER_PG_PASSWORD"])

    assert (launcher["module"], launcher["class"]) == ("dagster_docker", "DockerRunLauncher")
    config = launcher["config"]
    assert set(config) == {"image", "networks", "env_vars", "container_kwargs"}  # no step keys
    assert config["networks"] == ["host"]
    assert "DAGSTER_PG_PASSWORD" in config["env_vars"]  # by name: the value stays out of it
    assert "/tmp/handoff-root:/tmp/handoff-root" in config["container_kwargs"]["volumes"]
    assert config["container_kwargs"]["labels"] == {CONTAINER_LABEL: RUN_ID}


def test_k8s_run_worker_job_gets_mounts_labels_and_secrets_by_reference() -> None:
    options = _options(
        "k8s",
        image="proj:1",
        kubeconfig_file="/k",
        mount_project=True,
        env_secrets=["dagster-pg"],
        default_resources={"requests": {"cpu": "250m"}},
    )
    config = k8s_detached_launcher_config(options, _spec())["config"]

    assert config["job_image"] == "proj:1"
    assert config["env_secrets"] == ["dagster-pg"]
    assert config["labels"][K8S_RUN_LABEL] == RUN_ID
    assert [m["mount_path"] for m in config["volume_mounts"]] == [
        "/srv/project",
        "/tmp/handoff-root",
    ]
    assert config["resources"] == {"requests": {"cpu": "250m"}}
    assert config["fail_pod_on_run_failure"] is True


@needs_runner_params
def test_container_executors_need_a_shared_instance(kedro_demo) -> None:
    from kedro_projects import RUNNER

    run = kedro_demo("--runner", RUNNER, "--runner-params", "executor=docker,image=proj:1")

    assert run.returncode != 0
    assert "runner.instance" in run.output and "postgres" in run.output
    assert run.calls("before_node_run") == []
