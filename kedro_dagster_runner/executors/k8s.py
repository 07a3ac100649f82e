"""``k8s``: one Kubernetes Job per node (dagster-k8s's ``k8s_job_executor``), from a project image.

Per-node resources come from Kedro tags; secrets reach pods only through ``env_secrets``
(``envFrom`` a Secret), never as values in a manifest; ``env_vars`` are names whose values the
kedro run process has. Step Jobs carry a label with the Kedro run id so that
:meth:`K8sKind.cleanup` deletes them after the run. dagster-k8s needs a ``K8sRunLauncher`` on the
instance, also for attached runs (:meth:`K8sKind.instance_run_launcher`); the same options
configure it for detached runs. Tested against the project's emulator of the Kubernetes API.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, model_validator

from kedro_dagster_runner.executors.base import Adopted, ExecutorOptions, Extra, RunContext
from kedro_dagster_runner.executors.containers import (
    TELEMETRY_OFF,
    ContainerKind,
    ContainerOptions,
    host_paths,
)
from kedro_dagster_runner.executors.kedro_dagster_shapes import adopt, split_env_vars
from kedro_dagster_runner.executors.options import StrictModel, dagster_retries

if TYPE_CHECKING:
    from dagster import ExecutorDefinition

    from kedro_dagster_runner.spec import RunSpec

K8S_RUN_LABEL = "kedro-dagster-runner/run"


class K8sResources(StrictModel):
    """Kubernetes container resources: ``{requests: {cpu, memory}, limits: {cpu, memory}}``."""

    requests: dict[str, str] = Field(default_factory=dict)
    limits: dict[str, str] = Field(default_factory=dict)

    def config(self) -> dict[str, dict[str, str]]:
        """The non-empty sections, as dagster-k8s takes them."""
        return {key: value for key, value in self.model_dump().items() if value}


class K8sOptions(ContainerOptions):
    """One Kubernetes Job per node (dagster-k8s's step executor) from a project image."""

    namespace: str = "default"
    service_account_name: str = "default"
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    image_pull_secrets: list[str] = Field(default_factory=list)
    env_secrets: list[str] = Field(
        default_factory=list, description="Secrets whose keys become environment variables."
    )
    env_config_maps: list[str] = Field(default_factory=list)
    volumes: list[dict[str, Any]] = Field(default_factory=list)
    volume_mounts: list[dict[str, Any]] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    default_resources: K8sResources | None = None
    resources: dict[str, K8sResources] = Field(
        default_factory=dict, description="Kedro node tag -> resources of the nodes with that tag."
    )
    mount_project: bool = Field(
        default=False,
        description="hostPath-mount the project and handoff dir at the same path (one node).",
    )
    load_incluster_config: bool = True
    kubeconfig_file: str | None = None

    @model_validator(mode="after")
    def _one_way_to_reach_the_cluster(self) -> K8sOptions:
        if self.kubeconfig_file and self.load_incluster_config:
            return self.model_copy(update={"load_incluster_config": False})
        return self

    def cluster_access(self) -> dict[str, Any]:
        """How dagster-k8s reaches the cluster: in-cluster config or a kubeconfig file."""
        access: dict[str, Any] = {"load_incluster_config": self.load_incluster_config}
        if self.kubeconfig_file:
            access["kubeconfig_file"] = self.kubeconfig_file
        return access


def k8s_label_value(run_id: str) -> str:
    """A Kubernetes label value (63 chars of [A-Za-z0-9_.-]) identifying a Kedro run."""
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in run_id)[:63].strip("-_.")


def pod_mounts(parsed: K8sOptions, spec: RunSpec) -> tuple[list[dict], list[dict]]:
    """Volumes and volume mounts of a step pod: the configured ones, plus hostPath mounts of the
    project and the run's store at the same path with ``mount_project``."""
    volumes = list(parsed.volumes)
    mounts = list(parsed.volume_mounts)
    if parsed.mount_project:
        for index, path in enumerate(host_paths(spec)):
            name = f"kedro-host-path-{index}"
            volumes.append({"name": name, "host_path": {"path": path}})
            mounts.append({"name": name, "mount_path": path})
    return volumes, mounts


def resources_by_op(parsed: K8sOptions, spec: RunSpec) -> dict[str, dict[str, Any]]:
    """Op name -> the container resources of its node's first tag that ``resources`` names."""
    found = {}
    for node in spec.nodes:
        for tag in sorted(node.tags):
            if tag in parsed.resources:
                found[node.op_name] = parsed.resources[tag].config()
                break
    return found


def k8s_run_config(options: ExecutorOptions, spec: RunSpec) -> dict[str, Any]:
    """dagster-k8s's ``k8s_job_executor`` config; per-node resources come from Kedro tags."""
    parsed = KIND.parse(options)
    volumes, mounts = pod_mounts(parsed, spec)
    per_step = {
        op_name: {"container_config": {"resources": resources}}
        for op_name, resources in resources_by_op(parsed, spec).items()
    }
    config: dict[str, Any] = {
        "job_image": parsed.image,
        "job_namespace": parsed.namespace,
        "image_pull_policy": parsed.image_pull_policy,
        "image_pull_secrets": [{"name": name} for name in parsed.image_pull_secrets],
        "service_account_name": parsed.service_account_name,
        "env_vars": [TELEMETRY_OFF, *parsed.env_vars],
        "env_secrets": list(parsed.env_secrets),
        "env_config_maps": list(parsed.env_config_maps),
        "volumes": volumes,
        "volume_mounts": mounts,
        "labels": {**parsed.labels, K8S_RUN_LABEL: k8s_label_value(spec.run_id)},
        **parsed.cluster_access(),
        "per_step_k8s_config": per_step,
        "retries": dagster_retries(parsed.retries),
    }
    if parsed.default_resources:
        config["resources"] = parsed.default_resources.config()
    config.update(parsed.concurrency_config())
    return config


def k8s_run_launcher_config(options: ExecutorOptions) -> dict[str, Any]:
    """The ``run_launcher`` section the instance needs for dagster-k8s's step executor."""
    parsed = KIND.parse(options)
    config: dict[str, Any] = {
        "job_namespace": parsed.namespace,
        **parsed.cluster_access(),
        "service_account_name": parsed.service_account_name,
        "instance_config_map": "dagster-instance",
        "dagster_home": "/tmp/dagster_home",
        "job_image": parsed.image,
        "image_pull_policy": parsed.image_pull_policy,
        "env_secrets": list(parsed.env_secrets),
    }
    return {"module": "dagster_k8s", "class": "K8sRunLauncher", "config": config}


def k8s_detached_launcher_config(options: ExecutorOptions, spec: RunSpec) -> dict[str, Any]:
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


def delete_step_jobs(parsed: K8sOptions, run_id: str) -> int:
    """Delete the Jobs (and their pods) of a run; returns how many Jobs."""
    from kubernetes import client, config

    if parsed.load_incluster_config:
        config.load_incluster_config()
    else:
        config.load_kube_config(config_file=parsed.kubeconfig_file)
    batch = client.BatchV1Api()
    selector = f"{K8S_RUN_LABEL}={k8s_label_value(run_id)}"
    jobs = batch.list_namespaced_job(parsed.namespace, label_selector=selector).items
    for job in jobs:
        batch.delete_namespaced_job(
            job.metadata.name, parsed.namespace, propagation_policy="Foreground"
        )
    return len(jobs)


class K8sKind(ContainerKind[K8sOptions]):
    name = "k8s"
    description = "a Kubernetes Job per node (dagster-k8s), from a project image"
    options_model = K8sOptions
    extra: ClassVar[Extra | None] = Extra("k8s", "dagster_k8s")

    kedro_dagster_name: ClassVar[str | None] = "k8s_job_executor"

    def adopt_kedro_dagster(self, options: Mapping[str, Any]) -> Adopted:
        """dagster-k8s's shape: ``job_namespace``, ``image_pull_secrets`` as ``[{name}]``,
        ``resources`` for every node, the image from ``step_k8s_config.container_config``.
        The other raw Kubernetes settings (``step_k8s_config``, ``per_step_k8s_config``,
        ``scheduler_name``, ``security_context``) are not applied."""
        step_config = dict(options.get("step_k8s_config") or {})
        container = dict(step_config.pop("container_config", None) or {})
        image = container.pop("image", None)
        names, refusal = split_env_vars(options.get("env_vars") or [])
        secrets = [
            entry["name"] if isinstance(entry, Mapping) else entry
            for entry in options.get("image_pull_secrets") or []
        ]
        extra: dict[str, Any] = {"env_vars": names, "image_pull_secrets": secrets}
        if options.get("resources"):
            extra["default_resources"] = options["resources"]
        if image:
            extra["image"] = image
        elif not options.get("image"):
            refusal = refusal or (
                "no image: set step_k8s_config.container_config.image to the project image"
            )
        not_applied = "raw Kubernetes settings are not applied by the k8s executor"
        leftover = {**step_config, "container_config": container}
        ignored = {
            f"step_k8s_config.{key}": not_applied for key, value in leftover.items() if value
        }
        return adopt(
            options,
            renamed={"job_namespace": "namespace"},
            handled=("step_k8s_config", "env_vars", "image_pull_secrets", "resources"),
            ignored={
                key: not_applied
                for key in ("per_step_k8s_config", "scheduler_name", "security_context")
                if options.get(key)
            },
            refusal=refusal,
            extra=extra,
            nested_ignored=ignored,
        )

    def executor_definition(self, spec: RunSpec) -> ExecutorDefinition:
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor

    def run_config(
        self, options: ExecutorOptions, spec: RunSpec, context: RunContext
    ) -> dict[str, Any]:
        return k8s_run_config(options, spec)

    def instance_run_launcher(
        self, options: ExecutorOptions, spec: RunSpec
    ) -> dict[str, Any] | None:
        return k8s_run_launcher_config(options)

    def run_launcher(
        self, options: ExecutorOptions, spec: RunSpec, context: RunContext
    ) -> dict[str, Any]:
        return k8s_detached_launcher_config(options, spec)

    def cleanup(self, options: ExecutorOptions, run_id: str) -> None:
        delete_step_jobs(self.parse(options), run_id)


KIND = K8sKind()
