"""Node grouping (`runner.group_nodes`): several Kedro nodes as one Dagster step, run in Kedro's
order in one process, in-memory data between them kept in that process."""

from __future__ import annotations

import pytest
from kedro.pipeline import Pipeline, node

from kedro_dagster_runner.config import resolve_config
from kedro_dagster_runner.errors import ConfigError, GroupingError
from kedro_dagster_runner.grouping import group_ops
from kedro_dagster_runner.job import build_job
from kedro_dagster_runner.spec import NodeSpec, RunSpec


def _identity(*values: object) -> object:
    return values[0] if values else None


def _ops(pipeline: Pipeline, **settings: dict) -> list[NodeSpec]:
    return [
        NodeSpec(
            n.name,
            n.name.replace(".", "__"),
            list(n.inputs),
            list(n.outputs),
            sorted(n.tags),
            **settings.get(n.name, {}),
        )
        for n in pipeline.nodes
    ]


def _group(pipeline: Pipeline, strategy: str, memory: set[str] = frozenset(), **settings: dict):
    return group_ops(
        _ops(pipeline, **settings), pipeline, strategy, set(memory), set(pipeline.outputs())
    )


STATS = Pipeline(
    [
        node(_identity, "raw", "clean", name="clean"),
        node(_identity, "clean", "shifted", name="shift", namespace="first"),
        node(_identity, "shifted", "total", name="sum", namespace="first"),
        node(_identity, "clean", "shifted2", name="shift", namespace="second.inner"),
        node(_identity, "shifted2", "total2", name="sum", namespace="second.inner"),
        node(_identity, ["total", "total2"], "report", name="report"),
    ]
)


def test_namespace_groups_by_top_level_namespace_and_keeps_inner_memory_data() -> None:
    grouping = _group(STATS, "namespace", memory={"shifted", "shifted2", "clean"})

    by_name = {op.name: op for op in grouping.ops}
    assert [op.name for op in grouping.ops] == ["clean", "first", "second", "report"]
    assert by_name["first"].members == ["first.shift", "first.sum"]
    assert by_name["second"].members == ["second.inner.shift", "second.inner.sum"]
    # the group reads from outside only what its nodes read from outside, and writes all
    assert by_name["first"].inputs == ["clean"]
    assert by_name["first"].outputs == ["shifted", "total"]
    assert by_name["first"].node_names == ["first.shift", "first.sum"]
    assert by_name["clean"].members == [] and by_name["clean"].node_names == ["clean"]
    # only data nobody outside the group reads stays in the step's process
    assert grouping.in_step_datasets == ["shifted", "shifted2"]


def test_a_tag_prefix_groups_nodes_carrying_such_a_tag() -> None:
    pipeline = Pipeline(
        [
            node(_identity, "a", "b", name="one", tags=["step_load"]),
            node(_identity, "b", "c", name="two", tags=["step_load", "other"]),
            node(_identity, "c", "d", name="three", tags=["step_fit"]),
            node(_identity, "d", "e", name="four"),
        ]
    )
    grouping = _group(pipeline, "tag:step_")
    assert [(op.name, op.members) for op in grouping.ops] == [
        ("step_load", ["one", "two"]),
        ("three", []),  # a group of one node is the node's own op
        ("four", []),
    ]
    assert grouping.ops[0].tags == ["other", "step_load"]

    twice = Pipeline([node(_identity, "a", "b", name="torn", tags=["step_a", "step_b"])])
    with pytest.raises(GroupingError, match=r"Node 'torn' has tags \['step_a', 'step_b'\]"):
        _group(twice, "tag:step_")


def test_groups_waiting_on_each_other_are_refused_naming_the_datasets() -> None:
    pipeline = Pipeline(
        [
            node(_identity, "raw", "a_out", name="a1", namespace="left"),
            node(_identity, "a_out", "mid", name="middle"),
            node(_identity, "mid", "a_end", name="a2", namespace="left"),
        ]
    )
    with pytest.raises(GroupingError) as raised:
        _group(pipeline, "namespace")
    message = str(raised.value)
    assert "runner.group_nodes 'namespace' makes groups that wait on each other" in message
    assert "group 'left' reads 'mid' from node 'middle'" in message
    assert "node 'middle' reads 'a_out' from group 'left'" in message


def test_memory_chains_join_nodes_through_memory_data_and_absorb_what_lies_between() -> None:
    pipeline = Pipeline(
        [
            node(_identity, "raw", "m1", name="a"),
            node(_identity, "m1", "p1", name="b"),  # persisted out: would sit between a and c
            node(_identity, ["m1", "p1"], "m2", name="c"),
            node(_identity, "m2", "out", name="d"),
            node(_identity, "raw", "p2", name="alone"),
            node(_identity, "p2", "side", name="alone_too"),
        ]
    )
    grouping = _group(pipeline, "memory_chains", memory={"m1", "m2"})
    grouped = [op for op in grouping.ops if op.members]
    assert [op.members for op in grouped] == [["a", "b", "c", "d"]]
    assert {op.name for op in grouping.ops if not op.members} == {"alone", "alone_too"}
    assert grouping.in_step_datasets == ["m1", "m2"]
    # a free output stays a handoff dataset: it goes back to the caller
    free = Pipeline([node(_identity, "raw", "m", name="x"), node(_identity, "m", "f", name="y")])
    assert _group(free, "memory_chains", memory={"m", "f"}).in_step_datasets == ["m"]


def test_a_groups_nodes_must_agree_on_retry_policy_and_pool() -> None:
    pipeline = Pipeline(
        [
            node(_identity, "a", "b", name="one", namespace="ns"),
            node(_identity, "b", "c", name="two", namespace="ns"),
        ]
    )
    policy = {"max_retries": 2, "delay": None, "backoff": None, "jitter": None}
    both = {"retry_policy": policy, "pool": "db"}
    agreed = _group(pipeline, "namespace", **{"ns.one": both, "ns.two": both})
    (op,) = agreed.ops
    assert op.retry_policy == policy and op.pool == "db"

    with pytest.raises(GroupingError, match=r"Nodes of group 'ns' have different concurrency"):
        _group(pipeline, "namespace", **{"ns.one": {"pool": "db"}, "ns.two": {"pool": "api"}})
    # a node without a policy would be retried as part of the group
    with pytest.raises(GroupingError, match=r"different retry policies .*ns\.two: None"):
        _group(pipeline, "namespace", **{"ns.one": {"retry_policy": policy}})


def test_an_unknown_strategy_is_refused_naming_the_key() -> None:
    assert resolve_config({"runner": {"group_nodes": "tag:step_"}}).runner.group_nodes
    with pytest.raises(ConfigError, match=r"runner\.group_nodes.*tag:<prefix>"):
        resolve_config({"runner": {"group_nodes": "tags"}})


def test_a_group_is_one_op_carrying_its_nodes() -> None:
    grouping = _group(STATS, "namespace", memory={"shifted", "shifted2"})
    spec = RunSpec("run", "job", grouping.ops, "in_process")
    job = build_job(spec.to_json())

    assert sorted(op.name for op in job.graph.nodes) == ["clean", "first", "report", "second"]
    tags = job.graph.node_named("first").definition.tags
    assert tags["kedro/group"] == "first"
    assert tags["kedro/group_nodes"] == "first.shift,first.sum"
    upstream = job.graph.node_named("report").definition.input_defs
    assert sorted(defn.name for defn in upstream) == ["total", "total2"]
    assert spec.node_count == 6
    assert RunSpec.from_json(spec.to_json()) == spec


def test_a_retried_group_writing_versioned_data_is_refused() -> None:
    from kedro_dagster_runner.grouping import refuse_retried_versioned_groups

    policy = {"max_retries": 2, "delay": None, "backoff": None, "jitter": None}
    group = NodeSpec("g", "g", ["a"], ["model", "m"], members=["fit", "score"],
                     retry_policy=policy)  # fmt: skip
    refuse_retried_versioned_groups([group], {"report"})  # nothing versioned: fine
    with pytest.raises(GroupingError, match=r"Group 'g' has a retry policy .*\['model'\]"):
        refuse_retried_versioned_groups([group], {"model"})
