"""``dagster_in_process``: Dagster's stock in-process executor.

Every node runs in the ``kedro run`` process through Dagster's full step machinery (the op calls
the node). The code location's jobs use it too. Slower per node than ``in_process``; useful when
a Dagster feature needs the stock step machinery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from kedro_dagster_runner.executors.base import ExecutorKind, ExecutorOptions, NodesRun, RunContext
from kedro_dagster_runner.executors.options import CommonOptions, dagster_retries

if TYPE_CHECKING:
    from dagster import ExecutorDefinition

    from kedro_dagster_runner.spec import RunSpec


class DagsterInProcessOptions(CommonOptions):
    """Dagster's stock in-process executor: each node through Dagster's step machinery."""


class DagsterInProcessKind(ExecutorKind[DagsterInProcessOptions]):
    name = "dagster_in_process"
    description = "Dagster's stock in-process executor"
    options_model = DagsterInProcessOptions
    nodes_run: ClassVar[NodesRun] = NodesRun.DRIVER

    def executor_definition(self, spec: RunSpec) -> ExecutorDefinition:
        import dagster

        return dagster.in_process_executor

    def run_config(
        self, options: ExecutorOptions, spec: RunSpec, context: RunContext
    ) -> dict[str, Any]:
        return {"retries": dagster_retries(self.parse(options).retries)}


KIND = DagsterInProcessKind()
