"""Releasing in-memory data once no remaining node needs it, as Kedro's runners do."""

from __future__ import annotations

from collections import Counter
from itertools import chain
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline


class DatasetReleaser:
    """Releases each dataset once the last node reading it is done.

    The pipeline's free inputs and outputs are computed once (Kedro recomputes them per node,
    which is O(N) per node).
    """

    def __init__(self, pipeline: Pipeline, catalog: CatalogProtocol) -> None:
        self._catalog = catalog
        self._nodes = {node.name: node for node in pipeline.nodes}
        self._load_counts = Counter(chain.from_iterable(node.inputs for node in pipeline.nodes))
        self._keep = pipeline.inputs() | pipeline.outputs()

    def node_done(self, node_name: str) -> None:
        """Release what the node of ``node_name`` read or wrote that no pending node reads."""
        node = self._nodes[node_name]
        for name in node.inputs:
            self._load_counts[name] -= 1
        for name in (*node.inputs, *node.outputs):
            if self._load_counts[name] < 1 and name not in self._keep:
                self._catalog.release(name)
