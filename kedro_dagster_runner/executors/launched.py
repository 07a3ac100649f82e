"""``launched``: the executor of the code location's jobs, for runs Dagster launches itself
(the UI's launchpad, re-executions, schedules, sensors).

No ``kedro run`` process is behind such a run, so its run worker takes that part: around the
steps it executes it opens the project's Kedro session and fires the pipeline hooks once
(:class:`~kedro_dagster_runner.driver.launched_run.LaunchedRun`), and runs the nodes one after
the other against that session's catalog and hook manager, in Kedro's order, through the
package's executor (:class:`~kedro_dagster_runner.executors.kedro_executor.KedroStepExecutor`):
the same events, the same stop at the first failure as ``kedro run`` with ``in_process``.

Its config schema is permissive (only ``retries`` is read, see
:mod:`~kedro_dagster_runner.executors.permissive_kind`). It is not a kind ``dagster.yml`` can
name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from kedro_dagster_runner.executors.base import NodesRun
from kedro_dagster_runner.executors.options import CommonOptions
from kedro_dagster_runner.executors.permissive_kind import PermissiveRetriesKind

if TYPE_CHECKING:
    from dagster import Executor

    from kedro_dagster_runner._compat import RetryMode
    from kedro_dagster_runner.spec import RunSpec


class LaunchedOptions(CommonOptions):
    """Options of the code location's executor (``retries`` only)."""


EXECUTOR_TAG = "kedro/executor"
"""Tag of a code-location job: the ``dagster.yml`` executor its runs use (an entry's name or a
kind; none: ``runner.executor``)."""


class LaunchedKind(PermissiveRetriesKind[LaunchedOptions]):
    name = "launched"
    description = "the code location's jobs: the run worker runs the nodes as kedro run would"
    options_model = LaunchedOptions
    nodes_run: ClassVar[NodesRun] = NodesRun.DRIVER
    executor_name: ClassVar[str] = "kedro_launched"

    def make_executor(self, spec: RunSpec, retries: RetryMode) -> Executor:
        from kedro_dagster_runner.executors.launched_executor import LaunchedRunExecutor

        return LaunchedRunExecutor(spec, retries)


KIND = LaunchedKind()
