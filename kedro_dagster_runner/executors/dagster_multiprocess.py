"""``dagster_multiprocess``: Dagster's stock multiprocess executor, a fresh process per node.

Each step process imports the project, rebuilds the job from the run spec and runs one node
(seconds per node); ``forkserver`` with ``preload_modules`` cuts the start-up cost. Its processes
write events to the instance, so it needs a persistent one (a temporary sqlite instance when
``runner.instance`` is ``ephemeral``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, model_validator

from kedro_dagster_runner.executors.base import (
    ExecutorKind,
    ExecutorOptions,
    InstanceNeed,
    NodesRun,
    RunContext,
)
from kedro_dagster_runner.executors.options import (
    ConcurrentOptions,
    dagster_retries,
    unpack_start_method,
)

if TYPE_CHECKING:
    from dagster import ExecutorDefinition

    from kedro_dagster_runner.spec import RunSpec


class DagsterMultiprocessOptions(ConcurrentOptions):
    """Dagster's stock multiprocess executor: a fresh process per node (no ``fork``)."""

    start_method: Literal["spawn", "forkserver"] = "spawn"
    preload_modules: list[str] | None = Field(
        default=None, description="Modules the forkserver imports once (forkserver only)."
    )

    _selector = model_validator(mode="before")(lambda cls, v: unpack_start_method(v))


class DagsterMultiprocessKind(ExecutorKind[DagsterMultiprocessOptions]):
    name = "dagster_multiprocess"
    description = "Dagster's stock multiprocess executor (a process per node)"
    options_model = DagsterMultiprocessOptions
    nodes_run: ClassVar[NodesRun] = NodesRun.LOCAL_PROCESSES
    runs_shipped_pipelines: ClassVar[bool] = True
    instance_need: ClassVar[InstanceNeed] = InstanceNeed.PERSISTENT

    def executor_definition(self, spec: RunSpec) -> ExecutorDefinition:
        import dagster

        return dagster.multiprocess_executor

    def run_config(
        self, options: ExecutorOptions, spec: RunSpec, context: RunContext
    ) -> dict[str, Any]:
        parsed = self.parse(options)
        start_config: dict[str, Any] = {}
        if parsed.start_method == "forkserver" and parsed.preload_modules:
            start_config["preload_modules"] = list(parsed.preload_modules)
        return {
            "max_concurrent": parsed.max_concurrent,
            "start_method": {parsed.start_method: start_config},
            "retries": dagster_retries(parsed.retries or spec.retries_nodes),
            **{
                key: value
                for key, value in parsed.concurrency_config().items()
                if key == "tag_concurrency_limits"
            },
        }


KIND = DagsterMultiprocessKind()
