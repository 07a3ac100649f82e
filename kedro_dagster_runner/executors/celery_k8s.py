"""``celery_k8s``: dagster-celery-k8s's executor, a Celery task per node that a worker runs as a
Kubernetes Job of the project image.

Its options are the ``k8s`` kind's (image, namespace, cluster access, secrets, config maps,
volumes, labels, resources by Kedro tag, ``mount_project``) and dagster-celery's (``broker``,
``backend``, ``include``, ``config_source``, ``retries``, ``queues``, ``default_queue``), plus
dagster-celery-k8s's ``job_wait_timeout`` and ``postgres_password_secret``. The workers are
dagster-celery's, with dagster-celery-k8s's app, somewhere they reach the cluster's API:

    dagster-celery worker start -A dagster_celery_k8s.app -y celery.yaml

dagster-celery-k8s's executor runs only on an instance whose run launcher is its
``CeleryK8sRunLauncher``, also for a run ``kedro run`` executes itself; and it takes the broker,
backend, Celery settings and retry mode from that launcher before its own config. So the
package gives the run's instance that launcher, carrying those settings (a URL with a password as
``{env: VARIABLE}``, as for ``dagster_celery``).

What differs from the ``k8s`` kind, because the Jobs are created by the workers:

* ``env_vars`` cannot be passed by name (dagster-celery-k8s never reads them): variables reach
  pods through ``env_secrets`` and ``env_config_maps``; the step's container gets
  ``KEDRO_DISABLE_TELEMETRY`` and its resources through ``per_step_k8s_config``;
* the workers need the kubeconfig (``kubeconfig_file``, at the same path) or run in the cluster,
  and the instance's password variable (they open the run's instance);
* runs cannot be launched detached with this kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, field_validator

from kedro_dagster_runner.executors.base import (
    Adopted,
    ExecutorOptions,
    Extra,
    RunContext,
)
from kedro_dagster_runner.executors.containers import TELEMETRY_OFF
from kedro_dagster_runner.executors.dagster_celery import (
    CeleryContainersKind,
    DagsterCeleryOptions,
)
from kedro_dagster_runner.executors.k8s import (
    K8S_RUN_LABEL,
    K8sOptions,
    delete_step_jobs,
    k8s_label_value,
    pod_mounts,
    resources_by_op,
)
from kedro_dagster_runner.executors.k8s import KIND as K8S_KIND
from kedro_dagster_runner.executors.options import dagster_retries

if TYPE_CHECKING:
    from dagster import ExecutorDefinition

    from kedro_dagster_runner.spec import RunSpec


class CeleryK8sOptions(K8sOptions, DagsterCeleryOptions):
    """dagster-celery-k8s's executor: the k8s kind's Job options and dagster-celery's."""

    job_wait_timeout: float = Field(
        default=86400.0, gt=0, description="Seconds a worker waits for a step's Job to end."
    )
    postgres_password_secret: str = Field(
        default="",
        description="A Secret whose key postgresql-password becomes DAGSTER_PG_PASSWORD in the "
        "pods (empty: none; pass the password with env_secrets instead).",
    )

    @field_validator("env_vars")
    @classmethod
    def _no_names(cls, value: list[str]) -> list[str]:
        if value:
            raise ValueError(
                "the workers create the Jobs and pass no variables by name: use env_secrets or "
                "env_config_maps"
            )
        return value


class CeleryK8sKind(CeleryContainersKind):
    name = "celery_k8s"  # type: ignore[assignment]
    description = "dagster-celery-k8s's executor: Celery workers start a Kubernetes Job per node"
    options_model = CeleryK8sOptions  # type: ignore[assignment]
    runs_detached: ClassVar[bool] = False  # its executor needs the CeleryK8sRunLauncher
    extra: ClassVar[Extra | None] = Extra("celery-k8s", "dagster_celery_k8s")
    kedro_dagster_name: ClassVar[str | None] = "celery_k8s_job_executor"

    def adopt_kedro_dagster(self, options: Mapping[str, Any]) -> Adopted:
        """kedro-dagster's ``celery_k8s_job_executor``: the ``k8s_job_executor`` shape plus the
        Celery options."""
        celery_keys = ("broker", "backend", "include", "config_source", "job_wait_timeout")
        adopted = K8S_KIND.adopt_kedro_dagster(
            {key: value for key, value in options.items() if key not in celery_keys}
        )
        celery = {key: options[key] for key in celery_keys if options.get(key) is not None}
        return Adopted({**adopted.options, **celery}, adopted.ignored, adopted.refusal)

    def executor_definition(self, spec: RunSpec) -> ExecutorDefinition:
        from dagster_celery_k8s import celery_k8s_job_executor

        return celery_k8s_job_executor

    def _celery_settings(self, parsed: CeleryK8sOptions, spec: RunSpec) -> dict[str, Any]:
        """broker, backend, include, config_source, retries (secrets as ``{env: ...}``)."""
        hidden = self.without_secrets(
            {key: value for key, value in (("broker", parsed.broker), ("backend", parsed.backend))
             if value is not None}
        )  # fmt: skip
        settings: dict[str, Any] = {
            **hidden,
            "retries": dagster_retries(parsed.retries or spec.retries_nodes),
        }
        if parsed.include:
            settings["include"] = list(parsed.include)
        if parsed.config_source:
            settings["config_source"] = dict(parsed.config_source)
        return settings

    def run_config(
        self, options: ExecutorOptions, spec: RunSpec, context: RunContext
    ) -> dict[str, Any]:
        parsed: CeleryK8sOptions = self.parse(options)  # type: ignore[assignment]
        volumes, mounts = pod_mounts(parsed, spec)
        name, value = TELEMETRY_OFF.split("=", 1)
        by_op = resources_by_op(parsed, spec)
        default = parsed.default_resources.config() if parsed.default_resources else None
        per_step = {}
        for node in spec.nodes:
            container: dict[str, Any] = {"env": [{"name": name, "value": value}]}
            resources = by_op.get(node.op_name, default)
            if resources:
                container["resources"] = resources
            per_step[node.op_name] = {"container_config": container}
        return {
            **self._celery_settings(parsed, spec),
            "job_image": parsed.image,
            "job_namespace": parsed.namespace,
            "image_pull_policy": parsed.image_pull_policy,
            "image_pull_secrets": [{"name": name} for name in parsed.image_pull_secrets],
            "service_account_name": parsed.service_account_name,
            "env_secrets": list(parsed.env_secrets),
            "env_config_maps": list(parsed.env_config_maps),
            "volumes": volumes,
            "volume_mounts": mounts,
            "labels": {**parsed.labels, K8S_RUN_LABEL: k8s_label_value(spec.run_id)},
            **parsed.cluster_access(),
            "job_wait_timeout": parsed.job_wait_timeout,
            "per_step_k8s_config": per_step,
        }

    def instance_run_launcher(
        self, options: ExecutorOptions, spec: RunSpec
    ) -> dict[str, Any] | None:
        """dagster-celery-k8s's ``CeleryK8sRunLauncher``: the executor requires it, and reads
        the Celery settings from it first."""
        parsed: CeleryK8sOptions = self.parse(options)  # type: ignore[assignment]
        config = {
            "instance_config_map": "dagster-instance",
            "dagster_home": "/tmp/dagster_home",
            "postgres_password_secret": parsed.postgres_password_secret,
            "job_namespace": parsed.namespace,
            **parsed.cluster_access(),
            **self._celery_settings(parsed, spec),
        }
        return {"module": "dagster_celery_k8s", "class": "CeleryK8sRunLauncher", "config": config}

    def cleanup(self, options: ExecutorOptions, run_id: str) -> None:
        delete_step_jobs(self.parse(options), run_id)  # type: ignore[arg-type]


KIND = CeleryK8sKind()
