"""A hook plugin that records every hook call, with the process it fired in, as JSON lines.

The file is named by the DEMO_HOOK_LOG environment variable (nothing is recorded without it).
With DEMO_LOCK_INPUT set, ``after_catalog_created`` puts an unpicklable object in the catalog.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import MemoryDataset


def _record(hook: str, **fields: Any) -> None:
    path = os.environ.get("DEMO_HOOK_LOG")
    if not path:
        return
    record = {"hook": hook, "pid": os.getpid(), "host": socket.gethostname(), **fields}
    line = json.dumps(record, default=str)
    with open(path, "a", encoding="utf-8") as stream:
        stream.write(line + "\n")


class RecordingHooks:
    @hook_impl
    def after_context_created(self, context: Any) -> None:
        _record("after_context_created", env=context.env)

    @hook_impl
    def after_catalog_created(self, catalog: Any, save_version: str | None) -> None:
        _record(
            "after_catalog_created",
            save_version=save_version,
            catalog_class=type(catalog).__name__,
        )
        if os.environ.get("DEMO_LOCK_INPUT"):
            catalog["lock_input"] = MemoryDataset(data=threading.Lock(), copy_mode="assign")

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any]) -> None:
        _record("before_pipeline_run", run_id=run_params.get("run_id") or run_params["session_id"])

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any]) -> None:
        _record("after_pipeline_run", run_id=run_params.get("run_id") or run_params["session_id"])

    @hook_impl
    def on_pipeline_error(self, error: Exception) -> None:
        _record("on_pipeline_error", error=type(error).__name__, message=str(error))

    @hook_impl
    def before_node_run(self, node: Any, run_id: str) -> None:
        _record("before_node_run", node=node.name, run_id=run_id)

    @hook_impl
    def after_node_run(self, node: Any, outputs: dict[str, Any]) -> None:
        _record("after_node_run", node=node.name)

    @hook_impl
    def on_node_error(self, node: Any, error: Exception) -> None:
        _record("on_node_error", node=node.name, error=type(error).__name__)

    @hook_impl
    def before_dataset_loaded(self, dataset_name: str, node: Any) -> None:
        _record("before_dataset_loaded", dataset=dataset_name, node=node.name)

    @hook_impl
    def after_dataset_loaded(self, dataset_name: str, node: Any) -> None:
        _record("after_dataset_loaded", dataset=dataset_name, node=node.name)

    @hook_impl
    def before_dataset_saved(self, dataset_name: str, node: Any) -> None:
        _record("before_dataset_saved", dataset=dataset_name, node=node.name)

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, node: Any) -> None:
        _record("after_dataset_saved", dataset=dataset_name, node=node.name)
