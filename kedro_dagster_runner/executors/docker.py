"""``docker``: one Docker container per node (dagster-docker's step executor), from a project image.

The project (unless ``mount_project`` is false) and the run's store are bind-mounted at the same
path, environment variables are passed by name only, and containers carry a label with the Kedro
run id so that :meth:`DockerKind.cleanup` can delete them after the run (dagster-docker never
removes step containers). The same options configure dagster-docker's ``DockerRunLauncher`` for
detached runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from kedro_dagster_runner.executors.base import Adopted, ExecutorOptions, Extra, RunContext
from kedro_dagster_runner.executors.containers import (
    TELEMETRY_OFF,
    ContainerKind,
    ContainerOptions,
    host_paths,
)
from kedro_dagster_runner.executors.kedro_dagster_shapes import adopt, split_env_vars
from kedro_dagster_runner.executors.options import dagster_retries

if TYPE_CHECKING:
    from dagster import ExecutorDefinition

    from kedro_dagster_runner.spec import RunSpec

CONTAINER_LABEL = "org.kedro-dagster-runner.run"


class DockerOptions(ContainerOptions):
    """One Docker container per node (dagster-docker's step executor) from a project image."""

    network: str = Field(default="host", description="Docker network of the step containers.")
    volumes: list[str] = Field(
        default_factory=list, description="Extra bind mounts, 'host_path:container_path[:mode]'."
    )
    mount_project: bool = Field(
        default=True, description="Bind-mount the Kedro project at the same path in containers."
    )


def docker_run_config(
    options: ExecutorOptions, spec: RunSpec, env_names: list[str]
) -> dict[str, Any]:
    """dagster-docker's executor config: host paths the steps need are mounted at the same path."""
    parsed = KIND.parse(options)
    paths = host_paths(spec)
    if not parsed.mount_project and spec.project is not None:
        paths.remove(spec.project.project_path)
    volumes = [*parsed.volumes, *(f"{path}:{path}" for path in paths)]
    names = [TELEMETRY_OFF, *parsed.env_vars, *env_names]
    return {
        "image": parsed.image,
        "networks": [parsed.network],
        "env_vars": list(dict.fromkeys(names)),
        "container_kwargs": {"volumes": volumes, "labels": {CONTAINER_LABEL: spec.run_id}},
        "retries": dagster_retries(parsed.retries),
        **parsed.concurrency_config(),
    }


def docker_run_launcher_config(
    options: ExecutorOptions, spec: RunSpec, env_names: list[str]
) -> dict[str, Any]:
    """The ``run_launcher`` section of a detached run launched in a container (dagster-docker).

    The run worker container gets what step containers get (image, host network, project and
    store mounted at the same path, variables by name, the run label), so it can run the nodes
    itself or start step containers.
    """
    step = docker_run_config(options, spec, env_names)
    config = {key: step[key] for key in ("image", "networks", "env_vars", "container_kwargs")}
    return {"module": "dagster_docker", "class": "DockerRunLauncher", "config": config}


def remove_step_containers(run_id: str) -> int:
    """Delete the containers of a run (step and run worker containers); returns how many."""
    import docker

    client = docker.from_env()
    containers = client.containers.list(all=True, filters={"label": f"{CONTAINER_LABEL}={run_id}"})
    for container in containers:
        container.remove(force=True)
    return len(containers)


class DockerKind(ContainerKind[DockerOptions]):
    name = "docker"
    description = "a Docker container per node (dagster-docker), from a project image"
    options_model = DockerOptions
    extra: ClassVar[Extra | None] = Extra("docker", "dagster_docker")

    kedro_dagster_name: ClassVar[str | None] = "docker_executor"

    def adopt_kedro_dagster(self, options: Mapping[str, Any]) -> Adopted:
        """dagster-docker's shape: ``networks`` (one network), ``env_vars`` (names only),
        ``container_kwargs.volumes`` (a list of ``host:container[:mode]``). ``registry`` and the
        other ``container_kwargs`` are not used: the image must be on the Docker host."""
        networks = [
            *([options["network"]] if options.get("network") else []),
            *(options.get("networks") or []),
        ]
        names, refusal = split_env_vars(options.get("env_vars") or [])
        container_kwargs = dict(options.get("container_kwargs") or {})
        volumes = container_kwargs.pop("volumes", None)
        extra: dict[str, Any] = {"env_vars": names}
        if len(set(networks)) > 1:
            refusal = refusal or f"networks: one network only, got {', '.join(networks)}"
        elif networks:
            extra["network"] = networks[0]
        if isinstance(volumes, list):
            extra["volumes"] = volumes
        elif volumes is not None:
            container_kwargs["volumes"] = volumes
        ignored = {
            f"container_kwargs.{key}": "not passed to containers.create" for key in container_kwargs
        }
        if not options.get("image"):
            refusal = refusal or "image: the docker executor needs the project image's name"
        return adopt(
            options,
            handled=("network", "networks", "env_vars", "container_kwargs"),
            ignored={"registry": "images are not pulled: load the image on the Docker host"},
            refusal=refusal,
            extra=extra,
            nested_ignored=ignored,
        )

    def executor_definition(self, spec: RunSpec) -> ExecutorDefinition:
        from dagster_docker import docker_executor

        return docker_executor

    def run_config(
        self, options: ExecutorOptions, spec: RunSpec, context: RunContext
    ) -> dict[str, Any]:
        config = docker_run_config(options, spec, list(context.env_names))
        if isinstance(context.launcher, DockerKind):
            # dagster-docker appends the launcher's networks to the executor's: "host" twice
            # would make it connect step containers to the host network a second time.
            config.pop("networks", None)
        return config

    def run_launcher(
        self, options: ExecutorOptions, spec: RunSpec, context: RunContext
    ) -> dict[str, Any]:
        return docker_run_launcher_config(options, spec, list(context.env_names))

    def cleanup(self, options: ExecutorOptions, run_id: str) -> None:
        remove_step_containers(run_id)


KIND = DockerKind()
