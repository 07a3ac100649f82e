"""``dagster_celery``: dagster-celery's executor, for a fleet of ``dagster-celery`` workers.

Its options are dagster-celery's executor config as written: ``broker``, ``backend``,
``include``, ``config_source`` and ``retries``. So its docs apply, and the workers are the ones a
team already runs:

    dagster-celery worker start -A dagster_celery.app -y celery.yaml   # in the project's folder

Each Celery task executes one step the way Dagster executes any step elsewhere: it opens the
run's instance from its reference, rebuilds the job from the run's store and runs the node
(rebuilding the Kedro project once per worker process and run). Workers therefore need:

* this package and the project's dependencies installed;
* the project at the same path;
* the run's store (a local temp dir by default; set ``runner.handoff`` to a shared path or
  fsspec URI for workers on other machines);
* an instance they can open (the temporary sqlite instance of an ``ephemeral`` run only works
  for workers on this machine; otherwise use ``runner.instance: {postgres: ...}``).

A node goes to the queue its op's ``dagster-celery/queue`` tag names, default ``dagster``; the
package sets that tag from ``queues`` (a Kedro tag -> a queue) and ``default_queue``, as the
``celery`` kind routes its tasks.

A broker or backend URL with a password never reaches the run config: it is passed as an
environment variable that Dagster reads in the process that sends the tasks.

The package's own ``celery`` kind is faster (the project is rebuilt once per worker process and
kept, events are recorded by the driver, Ctrl-C revokes the run's tasks). Use this one where a
dagster-celery fleet exists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from kedro_dagster_runner.executors.base import (
    ExecutorKind,
    ExecutorOptions,
    Extra,
    InstanceNeed,
    NodesRun,
    RunContext,
)
from kedro_dagster_runner.executors.options import CommonOptions, dagster_retries

if TYPE_CHECKING:
    from dagster import ExecutorDefinition

    from kedro_dagster_runner.spec import NodeSpec, RunSpec

QUEUE_TAG = "dagster-celery/queue"
"""The op tag dagster-celery's executor reads for a step's queue."""


class DagsterCeleryOptions(CommonOptions):
    """dagster-celery's executor config, plus the routing of Kedro tags to queues."""

    broker: str | None = Field(
        default=None, description="Broker URL (default: dagster-celery's, pyamqp on localhost)."
    )
    backend: str | None = Field(default=None, description="Result backend URL (default: rpc://).")
    include: list[str] | None = Field(default=None, description="Modules every worker imports.")
    config_source: dict[str, Any] | None = Field(
        default=None, description="Celery settings passed to celery.Celery(config_source=...)."
    )
    queues: dict[str, str] | None = Field(
        default=None,
        description="Kedro tag -> queue: a node carrying the tag goes to that queue (the first "
        "matching tag in this order).",
    )
    default_queue: str | None = Field(
        default=None,
        description="The queue of nodes no entry of queues routes (default: dagster-celery's, "
        "'dagster').",
    )


class DagsterCeleryKind(ExecutorKind[DagsterCeleryOptions]):
    name = "dagster_celery"
    description = "dagster-celery's executor (workers: dagster-celery worker start)"
    options_model = DagsterCeleryOptions
    nodes_run: ClassVar[NodesRun] = NodesRun.REMOTE
    runs_shipped_pipelines: ClassVar[bool] = True
    instance_need: ClassVar[InstanceNeed] = InstanceNeed.PERSISTENT
    extra: ClassVar[Extra | None] = Extra("dagster-celery", "dagster_celery")

    def executor_definition(self, spec: RunSpec) -> ExecutorDefinition:
        from dagster_celery import celery_executor

        return celery_executor

    def run_config(
        self, options: ExecutorOptions, spec: RunSpec, context: RunContext
    ) -> dict[str, Any]:
        parsed = self.parse(options)
        hidden = self.without_secrets(
            {key: value for key, value in (("broker", parsed.broker), ("backend", parsed.backend))
             if value is not None}
        )  # fmt: skip
        retries = parsed.retries or spec.retries_nodes  # a node's retry policy needs them on
        config: dict[str, Any] = {**hidden, "retries": dagster_retries(retries)}
        if parsed.include:
            config["include"] = list(parsed.include)
        if parsed.config_source:
            config["config_source"] = dict(parsed.config_source)
        return config

    def op_tags(self, options: ExecutorOptions, node: NodeSpec) -> dict[str, str]:
        """``dagster-celery/queue`` from ``queues`` (the first of its tags that names one)."""
        parsed = self.parse(options)
        return queue_tags(node.tags, parsed.queues, parsed.default_queue)


class CeleryContainersKind(DagsterCeleryKind):
    """A dagster-celery executor whose workers run each step in a container or Kubernetes Job of
    the project image (dagster-celery-docker's, dagster-celery-k8s's): the steps open the shared
    instance from their arguments and rebuild the project from its files, and the variables
    they get come from the workers, not from ``kedro run``."""

    nodes_run: ClassVar[NodesRun] = NodesRun.REMOTE
    runs_shipped_pipelines: ClassVar[bool] = False
    instance_need: ClassVar[InstanceNeed] = InstanceNeed.SHARED

    def variables_passed_by_name(self, options: ExecutorOptions) -> list[str]:
        return []


def queue_tags(
    tags: list[str], queues: dict[str, str] | None, default_queue: str | None = None
) -> dict[str, str]:
    """The op tag sending a node with Kedro ``tags`` to its queue (none: dagster-celery's
    default queue)."""
    for tag, queue in (queues or {}).items():
        if tag in tags:
            return {QUEUE_TAG: queue}
    return {QUEUE_TAG: default_queue} if default_queue else {}


KIND = DagsterCeleryKind()
