"""Selecting Kedro nodes in ``dagster.yml``: by Kedro tag or by node name.

The entries of ``retry_policies`` and ``pools`` select the nodes they apply to this way; a node
takes the first entry, in file order, that selects it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from pydantic import Field

from kedro_dagster_runner.executors.options import StrictModel


class NodeSelection(StrictModel):
    """``tags`` and ``nodes`` of an entry: the nodes carrying any of the Kedro tags, or named."""

    tags: list[str] = Field(default_factory=list, description="Kedro tags of the nodes.")
    nodes: list[str] = Field(default_factory=list, description="Names of the nodes.")

    def selects(self, node_name: str, node_tags: list[str]) -> bool:
        """True when the entry applies to the node."""
        return node_name in self.nodes or any(tag in node_tags for tag in self.tags)


Selection = TypeVar("Selection", bound=NodeSelection)


def first_selecting(
    entries: Mapping[str, Selection], node_name: str, node_tags: list[str]
) -> tuple[str, Selection] | None:
    """The first entry (name and settings) selecting the node, or ``None``."""
    for name, entry in entries.items():
        if entry.selects(node_name, node_tags):
            return name, entry
    return None
