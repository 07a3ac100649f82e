"""What the container kinds (docker, k8s) share: image options, variables by name, host paths.

A step container runs ``dagster api execute_step``: the project image needs ``dagster`` on PATH
and the project importable, and the instance reaches the step through its arguments, so it must
be a shared (Postgres) one. Host paths the steps need (the project, the run's store) are mounted
at the same path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pydantic import Field, field_validator

from kedro_dagster_runner.executors.base import (
    ExecutorKind,
    ExecutorOptions,
    InstanceNeed,
    NodesRun,
    Options,
)
from kedro_dagster_runner.executors.options import ConcurrentOptions, names_only

if TYPE_CHECKING:
    from kedro_dagster_runner.spec import RunSpec

TELEMETRY_OFF = "KEDRO_DISABLE_TELEMETRY=true"  # a value: the kedro run process may not set it


class ContainerOptions(ConcurrentOptions):
    """Options of every container kind."""

    image: str = Field(description="Project image with the runner installed and dagster on PATH.")
    env_vars: list[str] = Field(
        default_factory=list,
        description="Names of environment variables passed on from the kedro run process.",
    )

    @field_validator("env_vars")
    @classmethod
    def _names_only(cls, value: list[str]) -> list[str]:
        return names_only(value)


class ContainerKind(ExecutorKind[Options]):
    """A kind whose steps run in containers started from a project image."""

    nodes_run: ClassVar[NodesRun] = NodesRun.REMOTE
    instance_need: ClassVar[InstanceNeed] = InstanceNeed.SHARED
    launches_runs: ClassVar[bool] = True

    def variables_passed_by_name(self, options: ExecutorOptions) -> list[str]:
        return list(options.get("env_vars", []))


def host_paths(spec: RunSpec) -> list[str]:
    """Host paths a step must see at the same path: the project and the run's store folder."""
    paths = [spec.project.project_path] if spec.project is not None else []
    if spec.handoff_uri and "://" not in spec.handoff_uri:
        paths.append(spec.handoff_uri.rsplit("/", 1)[0])
    return paths
