"""A node scoped to one op of its fan-out: it sees and writes only that op's partitions.

The op runs the node through Kedro's ``Task`` as any op does (hooks, ``is_async``, dataset
hooks unchanged); only ``Node.run`` differs. Each partitioned input the node loads
(``{key: load function}`` for the partitions on disk) is narrowed to the partitions the op
reads, and of each partitioned output the op keeps its own key (a node reading neighbouring
partitions may compute those too; their own ops write them) and hands it to the dataset as a
:class:`~kedro_dagster_runner.datasets.PartitionSlice`, so no op overwrites another's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kedro.io.core import DatasetError
from kedro.pipeline.node import Node

from kedro_dagster_runner.datasets import PartitionSlice

if TYPE_CHECKING:
    from kedro_dagster_runner.spec import NodeSpec


class PartitionScopedNode(Node):
    """A Kedro node run for one partition key (made by :func:`scoped_node`; equal to the node
    it scopes for Kedro and hooks: same name, function, inputs, outputs and tags)."""

    partition_key: str
    partition_reads: dict[str, list[str]]
    partitioned_outputs: list[str]

    def run(self, inputs: dict[str, Any] | None = None) -> dict[str, Any]:
        """Kedro's ``Node.run`` on the op's input partitions; partitioned outputs as slices.

        Raises:
            DatasetError: The node needs a partition its input does not have.
        """
        narrowed = dict(inputs or {})
        for name, keys in self.partition_reads.items():
            if name in narrowed:
                narrowed[name] = self._narrow(name, narrowed[name], keys)
        outputs = super().run(narrowed)
        for name in self.partitioned_outputs:
            if name in outputs and isinstance(outputs[name], dict):
                outputs[name] = self._own_partition(name, outputs[name])
        return outputs

    def _own_partition(self, dataset: str, returned: dict[str, Any]) -> PartitionSlice:
        """The op's own partition of what the node returned (a node reading neighbouring
        partitions, through a time-window offset, may compute theirs too: another op writes
        them)."""
        if self.partition_key not in returned:
            raise DatasetError(
                f"Node '{self.name}' ran for partition '{self.partition_key}' of dataset "
                f"'{dataset}' but did not return it (it returned {sorted(returned)[:10]})."
            )
        own = {self.partition_key: returned[self.partition_key]}
        return PartitionSlice(own, [self.partition_key], self.name)

    def _narrow(self, dataset: str, loaded: object, keys: list[str]) -> dict[str, Any]:
        if not isinstance(loaded, dict):
            return loaded  # a hook replaced the input; the node gets what the hook gave
        missing = [key for key in keys if key not in loaded]
        if missing:
            raise DatasetError(
                f"Node '{self.name}' for partition '{self.partition_key}' reads partition(s) "
                f"{missing} of dataset '{dataset}', which it does not have (it has "
                f"{sorted(loaded)[:10]}{' ...' if len(loaded) > 10 else ''})."
            )
        return {key: loaded[key] for key in keys}


def scoped_node(node: Node, step: NodeSpec, partitioned_outputs: list[str]) -> Node:
    """``node`` as the op of ``step`` runs it (``node`` itself when the step is not one
    partition of a fan-out)."""
    if step.partition_key is None:
        return node
    scoped = node._copy()
    scoped.__class__ = PartitionScopedNode
    scoped.partition_key = step.partition_key
    scoped.partition_reads = dict(step.partition_reads)
    scoped.partitioned_outputs = list(partitioned_outputs)
    return scoped
