"""From an executor kind in dagster.yml to a Dagster executor definition and its run config.

Kinds and where nodes run:

* ``in_process`` (default): this package's executor, nodes inline in the ``kedro run`` process;
* ``multiprocess``: this package's warm worker pool (see :mod:`kedro_dagster_runner.launchers`);
* ``dask`` / ``celery``: this package's launchers for distributed workers;
* ``dagster_in_process`` / ``dagster_multiprocess``: Dagster's stock executors, each node through
  Dagster's full step machinery (the multiprocess one starts a process per node);
* ``docker`` / ``k8s``: dagster-docker's and dagster-k8s's step executors, a container or a
  Kubernetes Job per node, from a project image.
"""

from __future__ import annotations

import os
from typing import Any

from kedro_dagster_runner.spec import RunSpec

CONTAINER_KINDS = frozenset({"docker", "k8s"})
# Kinds run by this package's KedroStepExecutor (the others are Dagster's or integrations').
OWN_EXECUTOR_KINDS = frozenset({"in_process", "multiprocess", "dask", "celery"})


def executor_definition(spec: RunSpec) -> Any:
    """The Dagster ``ExecutorDefinition`` the run's job is built with."""
    import dagster

    if spec.executor_kind == "dagster_in_process":
        return dagster.in_process_executor
    if spec.executor_kind == "dagster_multiprocess":
        return dagster.multiprocess_executor
    if spec.executor_kind == "docker":
        from dagster_docker import docker_executor

        return docker_executor
    if spec.executor_kind == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    from kedro_dagster_runner.step_executor import kedro_executor_definition

    return kedro_executor_definition(spec)


def _retries(enabled: bool) -> dict[str, dict[str, Any]]:
    return {"enabled": {}} if enabled else {"disabled": {}}


def executor_run_config(
    kind: str, options: dict[str, Any], spec: RunSpec | None = None, env_names: list[str] = ()
) -> dict[str, Any]:
    """The ``execution.config`` section of the Dagster run config for ``kind`` and ``options``.

    The package's own executors take their options from the run spec, so their section is empty.
    ``env_names`` are variables step containers must receive (by name, e.g. the instance's
    password variable).
    """
    if kind == "docker":
        assert spec is not None
        return docker_run_config(options, spec, list(env_names))
    if kind == "k8s":
        assert spec is not None
        return k8s_run_config(options, spec)
    if kind == "dagster_in_process":
        return {"retries": _retries(options.get("retries", False))}
    if kind == "dagster_multiprocess":
        start_method = options.get("start_method", "spawn")
        start_config: dict[str, Any] = {}
        if start_method == "forkserver" and options.get("preload_modules"):
            start_config["preload_modules"] = list(options["preload_modules"])
        config: dict[str, Any] = {
            "max_concurrent": options.get("max_concurrent"),
            "start_method": {start_method: start_config},
            "retries": _retries(options.get("retries", False)),
        }
        if options.get("tag_concurrency_limits"):
            config["tag_concurrency_limits"] = options["tag_concurrency_limits"]
        return config
    return {}


CONTAINER_LABEL = "org.kedro-dagster-runner.run"


def docker_run_config(options: dict[str, Any], spec: RunSpec, env_names: list[str]) -> dict:
    """dagster-docker's executor config: host paths the steps need are mounted at the same path.

    The project (unless ``mount_project`` is false) and the run's handoff store are bind-mounted,
    environment variables are passed by name only, and containers carry a label with the Kedro
    run id so that :func:`remove_step_containers` can delete them after the run.
    """
    volumes = list(options.get("volumes") or [])
    paths = _host_paths(spec)
    if not options.get("mount_project", True) and spec.project is not None:
        paths.remove(spec.project.project_path)
    volumes += [f"{path}:{path}" for path in paths]
    names = ["KEDRO_DISABLE_TELEMETRY=true", *options.get("env_vars", []), *env_names]
    config: dict[str, Any] = {
        "image": options["image"],
        "networks": [options.get("network", "host")],
        "env_vars": list(dict.fromkeys(names)),
        "container_kwargs": {
            "volumes": volumes,
            "labels": {CONTAINER_LABEL: spec.run_id},
        },
        "retries": _retries(options.get("retries", False)),
    }
    if options.get("max_concurrent"):
        config["max_concurrent"] = options["max_concurrent"]
    if options.get("tag_concurrency_limits"):
        config["tag_concurrency_limits"] = options["tag_concurrency_limits"]
    return config


def _host_paths(spec: RunSpec) -> list[str]:
    """Host paths a step must see at the same path: the project and the handoff directory."""
    paths = [spec.project.project_path] if spec.project is not None else []
    if spec.handoff_uri and "://" not in spec.handoff_uri:
        paths.append(spec.handoff_uri.rsplit("/", 1)[0])
    return paths


def k8s_label_value(run_id: str) -> str:
    """A Kubernetes label value (63 chars of [A-Za-z0-9_.-]) identifying a Kedro run."""
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in run_id)[:63].strip("-_.")


def k8s_run_config(options: dict[str, Any], spec: RunSpec) -> dict[str, Any]:
    """dagster-k8s's ``k8s_job_executor`` config; per-node resources come from Kedro tags.

    Secrets reach step pods only through ``env_secrets`` (``envFrom`` a Secret), never through
    values in the Job manifest; ``env_vars`` are names whose values the kedro run process has.
    """
    volumes = list(options.get("volumes") or [])
    mounts = list(options.get("volume_mounts") or [])
    if options.get("mount_project"):
        for index, path in enumerate(_host_paths(spec)):
            name = f"kedro-host-path-{index}"
            volumes.append({"name": name, "host_path": {"path": path}})
            mounts.append({"name": name, "mount_path": path})
    tag_resources = options.get("resources") or {}
    per_step = {}
    for node in spec.nodes:
        for tag in sorted(node.tags):
            if tag in tag_resources:
                resources = _k8s_resources(tag_resources[tag])
                per_step[node.op_name] = {"container_config": {"resources": resources}}
                break
    config: dict[str, Any] = {
        "job_image": options["image"],
        "job_namespace": options.get("namespace", "default"),
        "image_pull_policy": options.get("image_pull_policy", "IfNotPresent"),
        "image_pull_secrets": [{"name": name} for name in options.get("image_pull_secrets", [])],
        "service_account_name": options.get("service_account_name", "default"),
        "env_vars": ["KEDRO_DISABLE_TELEMETRY=true", *options.get("env_vars", [])],
        "env_secrets": list(options.get("env_secrets", [])),
        "env_config_maps": list(options.get("env_config_maps", [])),
        "volumes": volumes,
        "volume_mounts": mounts,
        "labels": {
            **(options.get("labels") or {}),
            K8S_RUN_LABEL: k8s_label_value(spec.run_id),
        },
        "load_incluster_config": options.get("load_incluster_config", True),
        "per_step_k8s_config": per_step,
        "retries": _retries(options.get("retries", False)),
    }
    if options.get("kubeconfig_file"):
        config["kubeconfig_file"] = options["kubeconfig_file"]
    if options.get("default_resources"):
        config["resources"] = _k8s_resources(options["default_resources"])
    if options.get("max_concurrent"):
        config["max_concurrent"] = options["max_concurrent"]
    if options.get("tag_concurrency_limits"):
        config["tag_concurrency_limits"] = options["tag_concurrency_limits"]
    return config


def _k8s_resources(resources: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in resources.items() if value}


K8S_RUN_LABEL = "kedro-dagster-runner/run"


def k8s_run_launcher_config(options: dict[str, Any]) -> dict[str, Any]:
    """The ``run_launcher`` section the instance needs for dagster-k8s's step executor."""
    config: dict[str, Any] = {
        "job_namespace": options.get("namespace", "default"),
        "load_incluster_config": options.get("load_incluster_config", True),
        "service_account_name": options.get("service_account_name", "default"),
        "instance_config_map": "dagster-instance",
        "dagster_home": "/tmp/dagster_home",
        "job_image": options["image"],
        "image_pull_policy": options.get("image_pull_policy", "IfNotPresent"),
        "env_secrets": list(options.get("env_secrets", [])),
    }
    if options.get("kubeconfig_file"):
        config["kubeconfig_file"] = options["kubeconfig_file"]
    return {"module": "dagster_k8s", "class": "K8sRunLauncher", "config": config}


def docker_run_launcher_config(
    options: dict[str, Any], spec: RunSpec, env_names: list[str]
) -> dict[str, Any]:
    """The ``run_launcher`` section of a detached run launched in a container (dagster-docker).

    The run worker container gets what step containers get (image, host network, project and
    handoff mounted at the same path, variables by name, the run label), so it can run the nodes
    itself or start step containers.
    """
    step = docker_run_config(options, spec, env_names)
    config = {key: step[key] for key in ("image", "networks", "env_vars", "container_kwargs")}
    return {"module": "dagster_docker", "class": "DockerRunLauncher", "config": config}


def k8s_detached_launcher_config(options: dict[str, Any], spec: RunSpec) -> dict[str, Any]:
    """The ``run_launcher`` section of a detached run launched as a Kubernetes Job.

    Like :func:`k8s_run_launcher_config`, plus what the run worker pod needs to run nodes: the
    mounts, variables and labels of :func:`k8s_run_config` (the run label lets the runner delete
    the Job after a followed run) and the default resources.
    """
    launcher = k8s_run_launcher_config(options)
    step = k8s_run_config(options, spec)
    launcher["config"].update(
        {
            key: step[key]
            for key in ("env_vars", "env_config_maps", "volumes", "volume_mounts", "labels")
        }
    )
    launcher["config"]["image_pull_secrets"] = step["image_pull_secrets"]
    launcher["config"]["fail_pod_on_run_failure"] = True
    if "resources" in step:
        launcher["config"]["resources"] = step["resources"]
    return launcher


def missing_env_vars(names: list[str]) -> list[str]:
    """Names (not ``NAME=value`` entries) that are not set in this process."""
    return [name for name in names if "=" not in name and name not in os.environ]


def delete_step_jobs(options: dict[str, Any], run_id: str) -> int:
    """Delete the step Jobs (and their pods) of a run; returns how many Jobs."""
    from kubernetes import client, config

    if options.get("load_incluster_config", True):
        config.load_incluster_config()
    else:
        config.load_kube_config(config_file=options.get("kubeconfig_file"))
    namespace = options.get("namespace", "default")
    batch = client.BatchV1Api()
    selector = f"{K8S_RUN_LABEL}={k8s_label_value(run_id)}"
    jobs = batch.list_namespaced_job(namespace, label_selector=selector).items
    for job in jobs:
        batch.delete_namespaced_job(job.metadata.name, namespace, propagation_policy="Foreground")
    return len(jobs)


def remove_step_containers(run_id: str) -> int:
    """Delete the step containers of a run (dagster-docker leaves them); returns how many."""
    import docker

    client = docker.from_env()
    containers = client.containers.list(all=True, filters={"label": f"{CONTAINER_LABEL}={run_id}"})
    for container in containers:
        container.remove(force=True)
    return len(containers)


def runs_in_driver(kind: str) -> bool:
    """True when every node runs in the ``kedro run`` process (live catalog, no handoff)."""
    return kind in {"in_process", "dagster_in_process"}


def needs_persistent_instance(kind: str) -> bool:
    """Dagster's stock multiprocess executor refuses an in-memory instance."""
    return kind == "dagster_multiprocess"


def needs_shared_instance(kind: str) -> bool:
    """Container steps reach the instance through their arguments: it must be Postgres."""
    return kind in CONTAINER_KINDS
