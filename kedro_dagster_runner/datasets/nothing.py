"""A dataset that carries no data: it only makes one node run after another."""

from __future__ import annotations

from typing import Any

from kedro.io import AbstractDataset


class DagsterNothingDataset(AbstractDataset[object, None]):
    """An ordering edge between nodes: saving discards the data, loading returns ``None``.

    A node that must run after another without reading its data takes this dataset as input
    from the other's output. It always exists, so it is never a missing input, and it is
    persisted in the sense that matters to runs: it never crosses processes. In the Dagster
    job the edge is a ``Nothing`` dependency, as every edge is; in the code location's lineage
    it is an asset of kind ``nothing`` between the two nodes' datasets.
    """

    def __init__(self, metadata: dict[str, Any] | None = None) -> None:
        self.metadata = metadata

    def load(self) -> None:
        return None

    def save(self, data: object) -> None:
        """Discard ``data``."""

    def _exists(self) -> bool:
        return True

    def _describe(self) -> dict[str, Any]:
        return {}
