"""A Kedro hook plugin that tells DagsterRunner which project, env and run it is part of.

Kedro builds the runner before the session exists and hands ``_run`` only the pipeline, the
catalog and the hook manager. Worker processes, however, must rebuild the same Kedro context, so
the runner needs the project path, package, env, conf_source, runtime params, pipeline names and
load versions. This plugin is registered through the ``kedro.hooks`` entry point and records them
from ``after_context_created`` and ``before_pipeline_run``; it never changes anything. It also
notes the shape of tabular data as it is saved, for the asset metadata of the run.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from kedro.framework.hooks import hook_impl

from kedro_dagster_runner import _compat

if TYPE_CHECKING:
    from kedro.config import AbstractConfigLoader
    from kedro.framework.context import KedroContext


@dataclass
class DriverContext:
    """What the driver's session knows about the run, as seen by the hooks."""

    project_path: str
    package_name: str | None
    env: str | None
    conf_source: str | None
    runtime_params: dict[str, Any]
    config_loader: AbstractConfigLoader
    pipeline_names: list[str] | None = None
    load_versions: dict[str, str] = field(default_factory=dict)
    run_params: dict[str, Any] = field(default_factory=dict)

    @property
    def effective_env(self) -> str | None:
        """The env the config loader uses: ``--env``, else its default run env."""
        return self.env or getattr(self.config_loader, "default_run_env", None)


class SessionCapture:
    """Records the latest context and, per Kedro run id, the run parameters of the session."""

    def __init__(self) -> None:
        # Per thread: a KedroServiceSession may run several pipelines at once, each creating its
        # context and then firing before_pipeline_run in its own thread.
        self._local = threading.local()
        self._by_run_id: dict[str, DriverContext] = {}

    @property
    def _latest(self) -> DriverContext | None:
        return getattr(self._local, "latest", None)

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        loader = context.config_loader
        self._local.latest = DriverContext(
            project_path=str(context.project_path),
            package_name=_compat.context_package_name(context),
            env=context.env,
            conf_source=getattr(loader, "conf_source", None),
            runtime_params=_compat.context_runtime_params(context),
            config_loader=loader,
        )

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any]) -> None:
        # Kedro 1.3+ names the run "run_id"; 1.0-1.2 only "session_id" (the same value).
        run_id = run_params.get("run_id") or run_params.get("session_id")
        if not run_id:
            return
        latest = self._latest
        if latest is None:
            return
        names = run_params.get("pipeline_names")
        if names is None and run_params.get("pipeline_name"):  # Kedro 1.0-1.1: one name
            names = [run_params["pipeline_name"]]
        runtime_params = run_params.get("runtime_params")  # KedroServiceSession passes them here
        self._by_run_id[run_id] = replace(  # a copy per run: the context may serve another run
            latest,
            pipeline_names=list(names or []) or None,
            load_versions=dict(run_params.get("load_versions") or {}),
            runtime_params=(
                dict(runtime_params) if runtime_params is not None else latest.runtime_params
            ),
            run_params=dict(run_params),
        )

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any]) -> None:
        self._forget(run_params)

    @hook_impl
    def on_pipeline_error(self, run_params: dict[str, Any]) -> None:
        self._forget(run_params)

    def _forget(self, run_params: dict[str, Any]) -> None:
        """A run has ended: drop what was kept for it (a run of another runner never asks), so
        a long-lived process running many sessions keeps nothing per run."""
        run_id = run_params.get("run_id") or run_params.get("session_id")
        if run_id:
            self._by_run_id.pop(run_id, None)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: object) -> None:
        from kedro_dagster_runner.workers.dataset_metadata import remember_saved_shape

        remember_saved_shape(dataset_name, data)

    def for_run(self, run_id: str | None) -> DriverContext | None:
        """Return the session data of the run ``run_id`` and forget it (one run per session)."""
        if run_id is None:
            return None
        return self._by_run_id.pop(run_id, None)


session_capture = SessionCapture()
