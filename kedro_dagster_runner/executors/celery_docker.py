"""``celery_docker``: dagster-celery-docker's executor, a Celery task per node that a worker runs
in a Docker container started from the project image.

Its options are dagster-celery-docker's executor config as written (``broker``, ``backend``,
``include``, ``config_source``, ``retries`` and ``docker: {image, env_vars, network,
container_kwargs}``), plus the ``dagster_celery`` kind's routing of Kedro tags to queues. The
workers are dagster-celery's, with dagster-celery-docker's app, on a host with the Docker engine
and the image:

    dagster-celery worker start -A dagster_celery_docker.app -y celery.yaml

A worker starts one container per node (``dagster api execute_step``), as the ``docker`` kind
does without Celery. The package adds what the ``docker`` kind gives its containers: the project
and the run's store mounted at the same path (``mount_project``, ``volumes``) and a label with
the Kedro run id, by which the driver deletes what the run left.

``docker.env_vars`` are names the **worker** passes from its own environment to the
containers (dagster-celery-docker reads them there, not in ``kedro run``): a Postgres
instance's password variable, for one, must be set where the workers run.

Registry logins are not used: the image must be on the workers' Docker host (a literal
registry password would be stored with the run's config).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from kedro_dagster_runner.executors.base import (
    Adopted,
    ExecutorOptions,
    Extra,
    RunContext,
)
from kedro_dagster_runner.executors.containers import TELEMETRY_OFF, host_paths
from kedro_dagster_runner.executors.dagster_celery import (
    CeleryContainersKind,
    DagsterCeleryOptions,
)
from kedro_dagster_runner.executors.docker import CONTAINER_LABEL, remove_step_containers
from kedro_dagster_runner.executors.kedro_dagster_shapes import adopt, split_env_vars
from kedro_dagster_runner.executors.options import names_only

if TYPE_CHECKING:
    from dagster import ExecutorDefinition

    from kedro_dagster_runner.spec import RunSpec


class CeleryDockerContainer(BaseModel):
    """dagster-celery-docker's ``docker`` section: the containers its workers start."""

    model_config = ConfigDict(extra="forbid")

    image: str = Field(description="Project image with the runner installed and dagster on PATH.")
    env_vars: list[str] = Field(
        default_factory=list,
        description="Names of environment variables the worker passes from its own environment.",
    )
    network: str = Field(default="host", description="Docker network of the step containers.")
    container_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="More keyword arguments of docker's containers.run."
    )

    @field_validator("env_vars")
    @classmethod
    def _names_only(cls, value: list[str]) -> list[str]:
        return names_only(value)

    @field_validator("container_kwargs")
    @classmethod
    def _nothing_stored_with_the_run(cls, value: dict[str, Any]) -> dict[str, Any]:
        """Values of ``environment`` would be stored with the run's config; ``volumes`` and
        ``labels`` take the forms the package extends."""
        if "environment" in value:
            raise ValueError(
                "environment: values here would be stored with the run's config; list the "
                "variables' names in docker.env_vars (the workers pass their values)"
            )
        if not isinstance(value.get("volumes", []), list):
            raise ValueError("volumes: a list of 'host_path:container_path[:mode]'")
        if not isinstance(value.get("labels", {}), dict):
            raise ValueError("labels: a mapping of label -> value")
        return value


class CeleryDockerOptions(DagsterCeleryOptions):
    """dagster-celery-docker's executor config, plus queues and the mounts of the docker kind."""

    docker: CeleryDockerContainer = Field(description="The step containers.")
    volumes: list[str] = Field(
        default_factory=list, description="Extra bind mounts, 'host_path:container_path[:mode]'."
    )
    mount_project: bool = Field(
        default=True, description="Bind-mount the Kedro project at the same path in containers."
    )


class CeleryDockerKind(CeleryContainersKind):
    name = "celery_docker"  # type: ignore[assignment]
    description = "dagster-celery-docker's executor: Celery workers start a container per node"
    options_model = CeleryDockerOptions  # type: ignore[assignment]
    extra: ClassVar[Extra | None] = Extra("celery-docker", "dagster_celery_docker")
    kedro_dagster_name: ClassVar[str | None] = "celery_docker_executor"

    def adopt_kedro_dagster(self, options: Mapping[str, Any]) -> Adopted:
        """kedro-dagster's ``celery_docker_executor``: the Celery options and, at the same level,
        the docker executor's (``image``, ``network``/``networks``, ``env_vars``,
        ``container_kwargs``), which go under ``docker:`` as dagster-celery-docker has them (a
        ``docker:`` section written that way is read too). ``registry`` is not used: images are
        not pulled."""
        docker = dict(options.get("docker") or {})
        for key in ("image", "network", "env_vars", "container_kwargs"):
            if options.get(key) is not None:
                docker.setdefault(key, options[key])
        networks = [*([docker["network"]] if docker.get("network") else []),
                    *(options.get("networks") or [])]  # fmt: skip
        names, refusal = split_env_vars(docker.get("env_vars") or [])
        docker["env_vars"] = names
        if len(set(networks)) > 1:
            refusal = refusal or f"networks: one network only, got {', '.join(networks)}"
        elif networks:
            docker["network"] = networks[0]
        not_pulled = "images are not pulled: load the image on the workers' host"
        nested = {"docker.registry": not_pulled} if docker.pop("registry", None) else None
        if not docker.get("image"):
            refusal = refusal or "image: the celery_docker executor needs the project image"
        return adopt(
            options,
            handled=("docker", "image", "network", "networks", "env_vars", "container_kwargs"),
            ignored={"registry": not_pulled},
            refusal=refusal,
            extra={"docker": docker},
            nested_ignored=nested,
        )

    def executor_definition(self, spec: RunSpec) -> ExecutorDefinition:
        from dagster_celery_docker import celery_docker_executor

        return celery_docker_executor

    def run_config(
        self, options: ExecutorOptions, spec: RunSpec, context: RunContext
    ) -> dict[str, Any]:
        parsed: CeleryDockerOptions = self.parse(options)  # type: ignore[assignment]
        config = super().run_config(options, spec, context)
        paths = host_paths(spec)
        if not parsed.mount_project and spec.project is not None:
            paths.remove(spec.project.project_path)
        kwargs = dict(parsed.docker.container_kwargs)
        telemetry_name, telemetry_value = TELEMETRY_OFF.split("=", 1)
        config["docker"] = {
            "image": parsed.docker.image,
            "network": parsed.docker.network,
            "env_vars": list(dict.fromkeys([*parsed.docker.env_vars, *context.env_names])),
            "container_kwargs": {
                **kwargs,
                "environment": {telemetry_name: telemetry_value},
                "volumes": [
                    *kwargs.get("volumes", []),
                    *parsed.volumes,
                    *(f"{path}:{path}" for path in paths),
                ],
                "labels": {**kwargs.get("labels", {}), CONTAINER_LABEL: spec.run_id},
            },
        }
        return config

    def cleanup(self, options: ExecutorOptions, run_id: str) -> None:
        """Containers the run left on this host's engine, if it has one (workers elsewhere
        start theirs on their own engines, which dagster-celery-docker removes)."""
        import docker

        try:
            docker.from_env().ping()
        except docker.errors.DockerException:
            return
        remove_step_containers(run_id)


KIND = CeleryDockerKind()
