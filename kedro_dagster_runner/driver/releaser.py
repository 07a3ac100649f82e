"""Releasing data once no remaining node needs it, as Kedro's runners do.

Kedro's runners call ``catalog.release(name)`` in the process that schedules the nodes, once the
last node reading the dataset is done (never for the pipeline's free inputs and outputs). The
driver does the same for every attached run, whatever the executor, on the driver's catalog;
when nodes run in other processes it also deletes the dataset's handoff data from the run's
store, so a long run keeps only the data nodes still need.
"""

from __future__ import annotations

from collections import Counter
from itertools import chain
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline


class DatasetReleaser:
    """Releases each dataset once the last node reading it is done.

    The pipeline's free inputs and outputs are computed once (Kedro recomputes them per node,
    which is O(N) per node).
    """

    def __init__(
        self,
        pipeline: Pipeline,
        catalog: CatalogProtocol,
        discard_handoff: Callable[[str], None] | None = None,
    ) -> None:
        """``discard_handoff(name)`` deletes a released dataset's data from the run's store."""
        self._catalog = catalog
        self._discard_handoff = discard_handoff
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
                if self._discard_handoff is not None:
                    self._discard_handoff(name)
