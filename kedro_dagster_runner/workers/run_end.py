"""Workers stop at the end of their run: no node starts, and nothing is saved, once it has ended.

A ``kedro run`` that finishes, is interrupted or dies removes (or leaves unreachable) its run's
store (:meth:`~kedro_dagster_runner.workers.store.RunStore.remove` marks it ended first). Remote
workers (dask, Celery) may still hold nodes of that run: queued tasks, a cancelled dask task that
starts anyway, a node that was running when the driver stopped. :func:`guard_saves` makes such a
node check the store when its function returns (before ``after_node_run``, which Kedro calls
before saving) and before each save, so a node of an ended run neither reports nor writes its
outputs; :func:`~kedro_dagster_runner.workers.step.run_published_step` checks before it starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kedro.framework.hooks import hook_impl

if TYPE_CHECKING:
    from kedro.pipeline.node import Node
    from pluggy import PluginManager

    from kedro_dagster_runner.workers.store import RunStore

GUARD_PLUGIN_NAME = "kedro_dagster_runner.run_end_guard"


class RunEndGuard:
    """A Kedro hook implementation that raises
    :class:`~kedro_dagster_runner.errors.RunEndedError` once the run's store says the run has
    ended: first among ``after_node_run`` implementations (the project's do not fire) and before
    each save (a few ``stat`` calls each on a local store)."""

    def __init__(self, store: RunStore) -> None:
        self._store = store

    @hook_impl(tryfirst=True)
    def after_node_run(self, node: Node) -> None:
        self._store.refuse_if_ended(f"the outputs of node '{node.name}'")

    @hook_impl(tryfirst=True)
    def before_dataset_saved(self, dataset_name: str, node: Node) -> None:
        self._store.refuse_if_ended(f"to save dataset '{dataset_name}' of node '{node.name}'")


def guard_saves(hook_manager: PluginManager, store: RunStore) -> None:
    """Register a :class:`RunEndGuard` of ``store`` on a worker's hook manager (once)."""
    if hook_manager.get_plugin(GUARD_PLUGIN_NAME) is None:
        hook_manager.register(RunEndGuard(store), name=GUARD_PLUGIN_NAME)
