"""``launched``: the executor of the code location's jobs, for runs Dagster launches itself
(the UI's launchpad, re-executions, schedules, sensors).

No ``kedro run`` process is behind such a run, so its run worker takes that part: around the
steps it executes it opens the project's Kedro session and fires the pipeline hooks once
(:class:`~kedro_dagster_runner.driver.launched_run.LaunchedRun`), and runs the nodes one after
the other against that session's catalog and hook manager, in Kedro's order, through the
package's executor (:class:`~kedro_dagster_runner.executors.kedro_executor.KedroStepExecutor`):
the same events, the same stop at the first failure as ``kedro run`` with ``in_process``.

Its config schema is permissive: when the UI re-executes a run started by ``kedro run`` it sends
that run's ``execution.config``, which holds the options of whatever kind ran it; only
``retries`` is read. It is not a kind ``dagster.yml`` can name.
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
    from dagster import ExecutorDefinition, InitExecutorContext

    from kedro_dagster_runner.spec import RunSpec


class LaunchedOptions(CommonOptions):
    """Options of the code location's executor (``retries`` only)."""


EXECUTOR_TAG = "kedro/executor"
"""Tag of a code-location job: the ``dagster.yml`` executor its runs use (an entry's name or a
kind; none: ``runner.executor``)."""


class LaunchedKind(ExecutorKind[LaunchedOptions]):
    name = "launched"
    description = "the code location's jobs: the run worker runs the nodes as kedro run would"
    options_model = LaunchedOptions
    nodes_run: ClassVar[NodesRun] = NodesRun.DRIVER

    def executor_definition(self, spec: RunSpec) -> ExecutorDefinition:
        from dagster import Permissive, executor

        from kedro_dagster_runner.executors.launched_executor import LaunchedRunExecutor

        @executor(name="kedro_launched", config_schema=Permissive())
        def kedro_launched(init_context: InitExecutorContext) -> LaunchedRunExecutor:
            retries = normalise_retries(init_context.executor_config.get("retries", False))
            mode = _compat.RetryMode.ENABLED if retries else _compat.RetryMode.DISABLED
            return LaunchedRunExecutor(spec, mode)

        return kedro_launched

    def run_config(
        self, options: ExecutorOptions, spec: RunSpec, context: RunContext
    ) -> dict[str, Any]:
        return {"retries": dagster_retries(self.parse(options).retries)}


KIND = LaunchedKind()
