"""``dagster_dask``: dagster-dask's executor, Dagster's stock dask executor, as its docs describe.

Its options are dagster-dask's config as written (``cluster: {existing: {address: ...}}``,
``{local: {...}}`` or a cluster manager: ``yarn``, ``ssh``, ``pbs``, ``moab``, ``sge``, ``lsf``,
``slurm``, ``oar``, ``kube`` with that manager's arguments), so a team's existing dagster-dask
configuration applies unchanged. Each dask task executes one step the way Dagster executes any
step elsewhere: it opens the run's instance from its reference, rebuilds the job from the run's
store and runs the node (rebuilding the Kedro project once per worker process and run). Its
events go to the instance, which must therefore be one the workers can open: the temporary sqlite
instance of an ``ephemeral`` run works for a local cluster or workers on this machine; workers
elsewhere need a shared instance (``runner.instance: {postgres: ...}``) and a shared
``runner.handoff``.

The package's own ``dask`` kind is faster (one task per node, events recorded by the driver, the
project rebuilt once per worker and kept): use this one where a dagster-dask deployment exists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, field_validator, model_validator

from kedro_dagster_runner.executors.base import (
    ExecutorKind,
    ExecutorOptions,
    Extra,
    InstanceNeed,
    NodesRun,
    RunContext,
)
from kedro_dagster_runner.executors.options import CommonOptions

if TYPE_CHECKING:
    from dagster import ExecutorDefinition

    from kedro_dagster_runner.spec import RunSpec

CLUSTER_TYPES = ("existing", "local", "yarn", "ssh", "pbs", "moab", "sge", "lsf", "slurm", "oar",
                 "kube")  # fmt: skip
"""The ``cluster`` selector of dagster-dask's config."""


class DagsterDaskOptions(CommonOptions):
    """dagster-dask's executor config: one cluster type and its arguments."""

    cluster: dict[str, dict[str, Any]] = Field(
        default_factory=lambda: {"local": {}},
        description="One of existing ({address}), local (LocalCluster arguments) or a cluster "
        "manager (yarn, ssh, pbs, moab, sge, lsf, slurm, oar, kube) with its arguments.",
    )

    @field_validator("cluster", mode="before")
    @classmethod
    def _one_cluster_type(cls, value: object) -> object:
        if not isinstance(value, dict) or len(value) != 1:
            raise ValueError(f"give exactly one cluster type of: {', '.join(CLUSTER_TYPES)}")
        ((kind, settings),) = value.items()
        if kind not in CLUSTER_TYPES:
            choices = ", ".join(CLUSTER_TYPES)
            raise ValueError(f"unknown cluster type '{kind}'; use one of {choices}")
        settings = settings or {}
        if not isinstance(settings, dict):
            raise ValueError(f"cluster.{kind} takes a mapping of arguments")
        if kind == "existing" and not settings.get("address"):
            raise ValueError("cluster.existing needs the scheduler's address")
        return {kind: settings}

    @model_validator(mode="after")
    def _no_retries(self) -> DagsterDaskOptions:
        if self.retries:
            raise ValueError(
                "retries: dagster-dask's executor does not retry steps; use the package's dask "
                "kind, or a retry policy per node"
            )
        return self


class DagsterDaskKind(ExecutorKind[DagsterDaskOptions]):
    name = "dagster_dask"
    description = "dagster-dask's executor (Dagster's stock dask executor)"
    options_model = DagsterDaskOptions
    nodes_run: ClassVar[NodesRun] = NodesRun.REMOTE
    runs_shipped_pipelines: ClassVar[bool] = True
    instance_need: ClassVar[InstanceNeed] = InstanceNeed.PERSISTENT
    extra: ClassVar[Extra | None] = Extra("dagster-dask", "dagster_dask")
    honours_retry_policies: ClassVar[bool] = False  # its executor's retry mode is always off

    def executor_definition(self, spec: RunSpec) -> ExecutorDefinition:
        from dagster_dask import dask_executor

        return dask_executor

    def run_config(
        self, options: ExecutorOptions, spec: RunSpec, context: RunContext
    ) -> dict[str, Any]:
        return {"cluster": dict(self.parse(options).cluster)}


KIND = DagsterDaskKind()
