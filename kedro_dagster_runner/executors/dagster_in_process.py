"""``dagster_in_process``: Dagster's in-process executor (``InProcessExecutor``).

Every node runs in the ``kedro run`` process through Dagster's full step machinery (the op calls
the node). Slower per node than ``in_process``; useful when a Dagster feature needs the stock
step machinery. The code location's jobs use it too, and so its config schema is permissive: when
the UI re-executes a run started by ``kedro run`` it sends that run's ``execution.config``, which
holds the options of whatever kind ran it; only ``retries`` is read (Dagster's selector form or
a boolean), the rest is ignored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from kedro_dagster_runner import _compat
from kedro_dagster_runner.executors.base import ExecutorKind, ExecutorOptions, NodesRun, RunContext
from kedro_dagster_runner.executors.options import (
    CommonOptions,
    dagster_retries,
    normalise_retries,
)

if TYPE_CHECKING:
    from dagster import Executor, ExecutorDefinition, InitExecutorContext

    from kedro_dagster_runner.spec import RunSpec


class DagsterInProcessOptions(CommonOptions):
    """Dagster's stock in-process executor: each node through Dagster's step machinery."""


class DagsterInProcessKind(ExecutorKind[DagsterInProcessOptions]):
    name = "dagster_in_process"
    description = "Dagster's stock in-process executor"
    options_model = DagsterInProcessOptions
    nodes_run: ClassVar[NodesRun] = NodesRun.DRIVER

    def executor_definition(self, spec: RunSpec) -> ExecutorDefinition:
        from dagster import Permissive, executor

        @executor(name="in_process", config_schema=Permissive())
        def in_process(init_context: InitExecutorContext) -> Executor:
            retries = normalise_retries(init_context.executor_config.get("retries", False))
            mode = _compat.RetryMode.ENABLED if retries else _compat.RetryMode.DISABLED
            return _compat.InProcessExecutor(retries=mode)

        return in_process

    def run_config(
        self, options: ExecutorOptions, spec: RunSpec, context: RunContext
    ) -> dict[str, Any]:
        return {"retries": dagster_retries(self.parse(options).retries)}


KIND = DagsterInProcessKind()
