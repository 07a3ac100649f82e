"""The base of the kinds whose Dagster executor takes any ``execution.config`` and reads only
``retries`` (Dagster's selector form or a boolean).

The UI re-executes a run with its parent's run config, whose ``execution.config`` holds the
options of whatever kind ran the parent; the executors of the code location's jobs must accept
them.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from kedro_dagster_runner import _compat
from kedro_dagster_runner.executors.base import ExecutorKind, ExecutorOptions, Options, RunContext
from kedro_dagster_runner.executors.options import dagster_retries, normalise_retries

if TYPE_CHECKING:
    from dagster import Executor, ExecutorDefinition, InitExecutorContext

    from kedro_dagster_runner._compat import RetryMode
    from kedro_dagster_runner.spec import RunSpec


class PermissiveRetriesKind(ExecutorKind[Options]):
    """A kind whose executor reads ``retries`` only from a permissive ``execution.config``."""

    executor_name: ClassVar[str]
    """The name of its Dagster executor definition."""

    @abstractmethod
    def make_executor(self, spec: RunSpec, retries: RetryMode) -> Executor:
        """The Dagster executor of a run of ``spec``."""

    def executor_definition(self, spec: RunSpec) -> ExecutorDefinition:
        from dagster import Permissive, executor

        kind = self

        @executor(name=self.executor_name, config_schema=Permissive())
        def make(init_context: InitExecutorContext) -> Executor:
            retries = normalise_retries(init_context.executor_config.get("retries", False))
            enabled = retries or spec.retries_nodes  # a node's retry policy needs retries on
            mode = _compat.RetryMode.ENABLED if enabled else _compat.RetryMode.DISABLED
            return kind.make_executor(spec, mode)

        return make

    def run_config(
        self, options: ExecutorOptions, spec: RunSpec, context: RunContext
    ) -> dict[str, Any]:
        return {"retries": dagster_retries(self.parse(options).retries or spec.retries_nodes)}
