"""``in_process`` (the default): every node in the ``kedro run`` process, one after the other.

Nodes use the driver's own catalog and hook manager: in-memory data stays in memory, nothing is
pickled. Dagster records the run through the package's executor.
"""

from __future__ import annotations

from typing import ClassVar

from kedro_dagster_runner.executors.base import NodesRun
from kedro_dagster_runner.executors.launcher import NodeLauncher
from kedro_dagster_runner.executors.options import CommonOptions
from kedro_dagster_runner.executors.package_kind import PackageExecutorKind
from kedro_dagster_runner.spec import RunSpec
from kedro_dagster_runner.workers.outcome import StepOutcome
from kedro_dagster_runner.workers.step import run_step


class InProcessOptions(CommonOptions):
    """Run every node in the ``kedro run`` process, one after the other."""


class InlineLauncher(NodeLauncher):
    """Runs each node in the orchestrating process, one at a time."""

    def __init__(self, spec: RunSpec) -> None:
        super().__init__(spec, max_concurrent=1)
        self._done: list[StepOutcome] = []

    def _start(self, op_name: str) -> None:
        self._done.append(run_step(self._spec, op_name))

    def running(self) -> int:
        return 0

    def finished(self, timeout: float) -> list[StepOutcome]:
        done, self._done = self._done, []
        return done


class InProcessKind(PackageExecutorKind[InProcessOptions]):
    name = "in_process"
    description = "every node in the kedro run process, one after the other (the default)"
    options_model = InProcessOptions
    nodes_run: ClassVar[NodesRun] = NodesRun.DRIVER

    def make_launcher(self, spec: RunSpec, options: InProcessOptions) -> NodeLauncher:
        return InlineLauncher(spec)


KIND = InProcessKind()
