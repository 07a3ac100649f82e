"""``dagster_in_process``: Dagster's in-process executor (``InProcessExecutor``).

Every node runs in the ``kedro run`` process through Dagster's full step machinery (the op calls
the node). Slower per node than ``in_process``; useful when a Dagster feature needs the stock
step machinery. Its config schema is permissive (only ``retries`` is read, see
:mod:`~kedro_dagster_runner.executors.permissive_kind`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from kedro_dagster_runner import _compat
from kedro_dagster_runner.executors.base import NodesRun
from kedro_dagster_runner.executors.options import CommonOptions
from kedro_dagster_runner.executors.permissive_kind import PermissiveRetriesKind

if TYPE_CHECKING:
    from dagster import Executor

    from kedro_dagster_runner._compat import RetryMode
    from kedro_dagster_runner.spec import RunSpec


class DagsterInProcessOptions(CommonOptions):
    """Dagster's stock in-process executor: each node through Dagster's step machinery."""


class DagsterInProcessKind(PermissiveRetriesKind[DagsterInProcessOptions]):
    name = "dagster_in_process"
    description = "Dagster's stock in-process executor"
    options_model = DagsterInProcessOptions
    nodes_run: ClassVar[NodesRun] = NodesRun.DRIVER
    executor_name: ClassVar[str] = "in_process"

    def make_executor(self, spec: RunSpec, retries: RetryMode) -> Executor:
        return _compat.InProcessExecutor(retries=retries)


KIND = DagsterInProcessKind()
