"""Project hooks. They only log; they never touch data or the catalog."""

from __future__ import annotations

import logging
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.pipeline import Node, Pipeline

logger = logging.getLogger(__name__)


class ProjectHooks:
    """Log a line before a pipeline starts and after every node finishes."""

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline: Pipeline) -> None:
        logger.info(
            "ProjectHooks: pipeline '%s' is about to run %d node(s)",
            ",".join(run_params.get("pipeline_names") or ["__default__"]),
            len(pipeline.nodes),
        )

    @hook_impl
    def after_node_run(self, node: Node) -> None:
        logger.info("ProjectHooks: finished node '%s'", node.name)
