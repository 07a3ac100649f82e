"""The base of the kinds run by the package's own executor (in_process, multiprocess, dask, ...).

Such a kind only says how its nodes are launched (:meth:`PackageExecutorKind.make_launcher`); the
orchestration and the events are those of
:class:`~kedro_dagster_runner.executors.kedro_executor.KedroStepExecutor`.
Its options reach the executor through the run config, values carrying credentials as
``{env: VARIABLE}`` references (see :mod:`kedro_dagster_runner.executors.base`).
"""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from kedro_dagster_runner.executors.base import (
    ExecutorKind,
    ExecutorOptions,
    Options,
    RunContext,
    resolve_env_references,
)
from kedro_dagster_runner.executors.options import ConcurrentOptions

if TYPE_CHECKING:
    from dagster import ExecutorDefinition, InitExecutorContext

    from kedro_dagster_runner.executors.kedro_executor import KedroStepExecutor
    from kedro_dagster_runner.executors.launcher import NodeLauncher
    from kedro_dagster_runner.spec import RunSpec


class PackageExecutorKind(ExecutorKind[Options]):
    """A kind run by ``KedroStepExecutor``; it provides the launcher of its nodes."""

    finishes_unfollowed_runs: ClassVar[bool] = True

    @abstractmethod
    def make_launcher(self, spec: RunSpec, options: Options) -> NodeLauncher:
        """The launcher of this kind's nodes for one run."""

    def run_config(
        self, options: ExecutorOptions, spec: RunSpec, context: RunContext
    ) -> dict[str, Any]:
        return self.without_secrets(options)

    def executor_definition(self, spec: RunSpec) -> ExecutorDefinition:
        from dagster import Permissive, executor

        from kedro_dagster_runner import _compat
        from kedro_dagster_runner.executors.kedro_executor import KedroStepExecutor

        kind = self

        @executor(name=f"kedro_{self.name}", config_schema=Permissive())
        def _kedro_executor(init_context: InitExecutorContext) -> KedroStepExecutor:
            options = kind.parse(resolve_env_references(init_context.executor_config, kind.name))
            limits = None
            if isinstance(options, ConcurrentOptions):
                limits = options.concurrency_config().get("tag_concurrency_limits")
            return KedroStepExecutor(
                spec,
                kind.make_launcher(spec, options),
                # a node's retry policy needs retries on
                _compat.RetryMode.ENABLED
                if options.retries or spec.retries_nodes
                else _compat.RetryMode.DISABLED,
                tag_concurrency_limits=limits,
            )

        return _kedro_executor
