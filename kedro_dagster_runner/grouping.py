"""Node grouping: several Kedro nodes run as one Dagster step (``runner.group_nodes``).

A group is one op. Its step runs the group's nodes one after the other, in Kedro's order, in one
process (Kedro's ``Task`` per node, so node and dataset hooks fire per node as usual); in-memory
datasets that only the group's own nodes write and read stay in that process's memory instead of
crossing the run's store. On docker and k8s a group is one container or pod instead of one per
node.

Strategies:

* ``none`` (default): one op per node.
* ``namespace``: the nodes of one top-level namespace form a group, as Kedro's
  ``Pipeline.group_nodes_by("namespace")`` groups them; nodes without a namespace stay alone.
* ``tag:<prefix>``: nodes carrying a Kedro tag that starts with ``<prefix>`` form one group per
  such tag (``tag:step_`` puts nodes tagged ``step_train`` together); nodes without one stay alone.
* ``memory_chains``: nodes joined by in-memory datasets (``MemoryDataset`` or undeclared) form a
  group named ``chain_<its first node>``, so no in-memory data crosses processes; a node
  standing between two nodes of one group (A writes memory data C reads, and A -> B -> C
  through persisted data) joins it, since the group could not run before or after it.

Groups are checked before any node runs: with ``namespace`` and ``tag:`` a group may not wait on
a node that waits on the group itself (a cycle between groups), and a group's nodes must agree on
their retry policy and concurrency pool. Ops fanned out over partitions are never grouped.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING

from kedro_dagster_runner.errors import GroupingError
from kedro_dagster_runner.naming import dagster_name, strip_transcoding
from kedro_dagster_runner.spec import NodeSpec

if TYPE_CHECKING:
    from kedro.pipeline import Pipeline

NONE = "none"
NAMESPACE = "namespace"
MEMORY_CHAINS = "memory_chains"
TAG_PREFIX = "tag:"


def check_strategy(value: str) -> str:
    """``value`` when it names a strategy; ``ValueError`` listing them otherwise."""
    if value in (NONE, NAMESPACE, MEMORY_CHAINS) or (
        value.startswith(TAG_PREFIX) and len(value) > len(TAG_PREFIX)
    ):
        return value
    raise ValueError("expected none, namespace, memory_chains or tag:<prefix>")


@dataclass(frozen=True)
class Grouping:
    """The run's ops after grouping.

    Attributes:
        ops: The ops in a topological order that keeps Kedro's where it can (a group takes the
            place of its first node).
        in_step_datasets: In-memory datasets written and read only inside one group: they never
            leave the process running the group's step.
    """

    ops: list[NodeSpec]
    in_step_datasets: list[str]


def group_ops(
    ops: list[NodeSpec],
    pipeline: Pipeline,
    strategy: str,
    in_memory: set[str],
    free_outputs: set[str],
) -> Grouping:
    """Group ``ops`` (one per node, or per partition of a fanned-out node, in Kedro's order).

    Args:
        ops: The run's ops, each with its dagster.yml settings (retry policy, pool) set.
        pipeline: The run's pipeline (for namespaces).
        strategy: ``runner.group_nodes``.
        in_memory: The run's datasets that only live in memory.
        free_outputs: The pipeline's free outputs (they go back to the caller, never kept in a
            step).

    Raises:
        GroupingError: A cycle between groups, or a group whose nodes disagree on their retry
            policy or pool.
    """
    if strategy == NONE:
        return Grouping(list(ops), [])
    if strategy == MEMORY_CHAINS:
        keys = _memory_chain_keys(ops, in_memory)
    else:
        keys = _declared_keys(ops, pipeline, strategy)
    members: dict[str, list[NodeSpec]] = {}
    for op in ops:
        key = keys.get(op.op_name)
        if key is not None:
            members.setdefault(key, []).append(op)
    for key in [key for key, grouped in members.items() if len(grouped) < 2]:
        del members[key]  # a group of one node is that node's own op
    if strategy == MEMORY_CHAINS:
        merged = _merge_cycles(ops, members)
        members = {f"chain_{grouped[0].name}": grouped for grouped in merged.values()}
    grouped_ops = _grouped_op_list(ops, members)
    ordered = _topological(grouped_ops, strategy)
    internal = _in_step_datasets(ordered, in_memory, free_outputs)
    return Grouping(ordered, internal)


def _declared_keys(ops: list[NodeSpec], pipeline: Pipeline, strategy: str) -> dict[str, str]:
    """Op name -> group key for ``namespace`` and ``tag:<prefix>``."""
    by_name = {node.name: node for node in pipeline.nodes}
    keys: dict[str, str] = {}
    for op in ops:
        if op.partition_key is not None:
            continue
        if strategy == NAMESPACE:
            namespace = by_name[op.name].namespace
            if namespace:
                keys[op.op_name] = namespace.split(".")[0]
            continue
        prefix = strategy[len(TAG_PREFIX) :]
        found = sorted(tag for tag in op.tags if tag.startswith(prefix))
        if len(found) > 1:
            raise GroupingError(
                f"Node '{op.name}' has tags {found}, which put it in more than one group of "
                f"runner.group_nodes '{strategy}'; keep one of them."
            )
        if found:
            keys[op.op_name] = found[0]
    return keys


def _memory_chain_keys(ops: list[NodeSpec], in_memory: set[str]) -> dict[str, str]:
    """Op name -> the first op of its component, joining ops through in-memory datasets."""
    parent = {op.op_name: op.op_name for op in ops if op.partition_key is None}

    def root(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    writers: dict[str, list[str]] = {}
    for op in ops:
        if op.op_name in parent:
            for output in op.outputs:
                if output in in_memory:
                    writers.setdefault(strip_transcoding(output), []).append(op.op_name)
    order = {op.op_name: index for index, op in enumerate(ops)}
    for op in ops:
        if op.op_name not in parent:
            continue
        for name in op.inputs:
            for writer in writers.get(strip_transcoding(name), ()):
                first, second = sorted((root(writer), root(op.op_name)), key=order.__getitem__)
                parent[second] = first
    return {name: root(name) for name in parent}


def _edges(ops: Iterable[NodeSpec]) -> dict[str, set[str]]:
    """Op name -> the op names it waits for (dataset edges, transcoding suffixes stripped)."""
    ops = list(ops)
    writers: dict[str, set[str]] = {}
    for op in ops:
        for output in op.outputs:
            writers.setdefault(strip_transcoding(output), set()).add(op.op_name)
    return {
        op.op_name: {
            writer
            for name in op.inputs
            for writer in writers.get(strip_transcoding(name), ())
            if writer != op.op_name
        }
        for op in ops
    }


def _merge_cycles(
    ops: list[NodeSpec], members: dict[str, list[NodeSpec]]
) -> dict[str, list[NodeSpec]]:
    """Merge groups (and the ops between them) that would wait on each other: each strongly
    connected component of the graph of groups and ungrouped ops becomes one group."""
    group_of = {op.op_name: key for key, grouped in members.items() for op in grouped}
    unit = {op.op_name: group_of.get(op.op_name, op.op_name) for op in ops}
    waits: dict[str, set[str]] = {name: set() for name in unit.values()}
    for op_name, upstream in _edges(ops).items():
        waits[unit[op_name]].update(unit[name] for name in upstream if unit[name] != unit[op_name])
    merged: dict[str, list[NodeSpec]] = {}
    for component in _strongly_connected(waits):
        if len(component) == 1 and next(iter(component)) not in members:
            continue
        chosen = [op for op in ops if unit[op.op_name] in component]
        if any(op.partition_key is not None for op in chosen):
            raise GroupingError(
                "runner.group_nodes 'memory_chains' would have to put the partitions of "
                f"{sorted({op.name for op in chosen if op.partition_key is not None})} in one "
                "step with the nodes around them; give the in-memory datasets between them a "
                "persisted type, or group them by namespace or tag."
            )
        merged[unit[chosen[0].op_name]] = chosen
    return merged


def _strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's strongly connected components, iteratively (graphs of thousands of ops)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []
    counter = 0
    for start, targets in graph.items():
        if start in index:
            continue
        work = [(start, iter(sorted(targets)))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            vertex, neighbours = work[-1]
            advanced = False
            for neighbour in neighbours:
                if neighbour not in index:
                    index[neighbour] = low[neighbour] = counter
                    counter += 1
                    stack.append(neighbour)
                    on_stack.add(neighbour)
                    work.append((neighbour, iter(sorted(graph[neighbour]))))
                    advanced = True
                    break
                if neighbour in on_stack:
                    low[vertex] = min(low[vertex], index[neighbour])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[vertex])
            if low[vertex] == index[vertex]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == vertex:
                        break
                components.append(component)
    return components


def _grouped_op_list(ops: list[NodeSpec], members: dict[str, list[NodeSpec]]) -> list[NodeSpec]:
    """``ops`` with each group's ops replaced by one op, at the place of its first one."""
    first_of = {grouped[0].op_name: key for key, grouped in members.items()}
    in_a_group = {op.op_name for grouped in members.values() for op in grouped}
    taken = {op.op_name for op in ops if op.op_name not in in_a_group}
    result = []
    for op in ops:
        if op.op_name in first_of:
            result.append(_group_op(first_of[op.op_name], members[first_of[op.op_name]], taken))
        elif op.op_name not in in_a_group:
            result.append(op)
    return result


def _group_op(key: str, grouped: list[NodeSpec], taken: set[str]) -> NodeSpec:
    """The op running ``grouped`` (in Kedro's order): it reads what its nodes read from outside
    the group and writes everything they write."""
    written = {strip_transcoding(name) for op in grouped for name in op.outputs}
    inputs = [
        name
        for name in dict.fromkeys(name for op in grouped for name in op.inputs)
        if strip_transcoding(name) not in written
    ]
    outputs = list(dict.fromkeys(name for op in grouped for name in op.outputs))
    op_name = dagster_name(key)
    while op_name in taken:
        op_name = f"{op_name}__group"
    taken.add(op_name)
    return NodeSpec(
        name=key,
        op_name=op_name,
        inputs=inputs,
        outputs=outputs,
        tags=sorted({tag for op in grouped for tag in op.tags}),
        members=[op.name for op in grouped],
        retry_policy=_agreed(key, grouped, "retry_policy"),
        pool=_agreed(key, grouped, "pool"),
    )


def _agreed(key: str, grouped: list[NodeSpec], setting: str) -> object:
    """The one value of ``setting`` all the group's nodes have (``None`` when none has one).

    Raises:
        GroupingError: The nodes differ, a node without one included: a node that is not retried
            (or not in a pool) would be, as part of the group.
    """
    values = {op.name: getattr(op, setting) for op in grouped}
    distinct = []
    for value in values.values():
        if value not in distinct:
            distinct.append(value)
    if len(distinct) > 1:
        label = "retry policies" if setting == "retry_policy" else "concurrency pools"
        raise GroupingError(
            f"Nodes of group '{key}' have different {label} in dagster.yml "
            f"({', '.join(f'{name}: {value}' for name, value in values.items())}); a group is "
            "one Dagster step: give all its nodes the same one (or none), or group them "
            "differently."
        )
    return distinct[0]


def _topological(ops: list[NodeSpec], strategy: str) -> list[NodeSpec]:
    """``ops`` in a topological order, the one closest to the given order.

    Raises:
        GroupingError: The groups wait on each other (named with the datasets involved).
    """
    position = {op.op_name: index for index, op in enumerate(ops)}
    waits = _edges(ops)
    pending = {name: len(upstream) for name, upstream in waits.items()}
    downstream: dict[str, list[str]] = {name: [] for name in waits}
    for name, upstream in waits.items():
        for writer in upstream:
            downstream[writer].append(name)
    ready = [position[name] for name, count in pending.items() if count == 0]
    heapq.heapify(ready)
    ordered = []
    while ready:
        op = ops[heapq.heappop(ready)]
        ordered.append(op)
        for reader in downstream[op.op_name]:
            pending[reader] -= 1
            if pending[reader] == 0:
                heapq.heappush(ready, position[reader])
    if len(ordered) < len(ops):
        raise GroupingError(_cycle_message(ops, waits, {op.op_name for op in ordered}, strategy))
    return ordered


def _cycle_message(
    ops: list[NodeSpec], waits: dict[str, set[str]], sorted_ops: set[str], strategy: str
) -> str:
    stuck = {name: upstream - sorted_ops for name, upstream in waits.items()}
    by_op = {op.op_name: op for op in ops}
    start = next(op.op_name for op in ops if op.op_name not in sorted_ops)
    path = [start]
    while True:  # follow waits until an op repeats: that loop is a cycle
        following = sorted(stuck[path[-1]])[0]
        if following in path:
            path = [*path[path.index(following) :], following]
            break
        path.append(following)
    steps = []
    for reader, writer in pairwise(path):
        read = by_op[reader]
        datasets = [
            name
            for name in read.inputs
            if strip_transcoding(name) in {strip_transcoding(out) for out in by_op[writer].outputs}
        ]
        steps.append(f"{_describe(read)} reads {datasets[0]!r} from {_describe(by_op[writer])}")
    return (
        f"runner.group_nodes '{strategy}' makes groups that wait on each other: "
        + "; ".join(steps)
        + ". Move the nodes between them into one group (or out of it), or use another "
        "grouping."
    )


def _describe(op: NodeSpec) -> str:
    return f"group '{op.name}'" if op.members else f"node '{op.name}'"


def _in_step_datasets(
    ops: list[NodeSpec], in_memory: set[str], free_outputs: set[str]
) -> list[str]:
    """In-memory datasets a group writes that no op but that group reads."""
    readers: dict[str, set[str]] = {}
    for op in ops:
        for name in op.inputs:
            readers.setdefault(strip_transcoding(name), set()).add(op.op_name)
    kept = []
    for op in ops:
        if not op.members:
            continue
        for name in op.outputs:
            read_elsewhere = readers.get(strip_transcoding(name), set()) - {op.op_name}
            if name in in_memory and name not in free_outputs and not read_elsewhere:
                kept.append(name)
    return sorted(kept)


def refuse_retried_versioned_groups(ops: list[NodeSpec], versioned: set[str]) -> None:
    """A retried group runs all its nodes again with the run's one save version: a versioned
    dataset one of them saved before the failure cannot be saved a second time.

    Raises:
        GroupingError: Naming the group and its versioned outputs.
    """
    for op in ops:
        saved = sorted(name for name in op.outputs if name in versioned)
        if op.members and op.retry_policy and saved:
            raise GroupingError(
                f"Group '{op.name}' has a retry policy and its nodes write versioned datasets "
                f"{saved}: a retry would run its nodes again and save them a second time with "
                "the run's one version, which Kedro refuses. Leave those nodes out of the group, "
                "or their retry policy out of dagster.yml."
            )
