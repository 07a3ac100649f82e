"""The job factory: one Dagster op per Kedro node, built from the run spec alone.

``build_job`` is a module-level function of a JSON string so that
``dagster.build_reconstructable_job`` can point at it: every executor rebuilds the identical job
in its own process without importing the Kedro project. Op dependencies come from dataset names:
an op has one ``Nothing`` input per dataset it reads that another op of the run writes, and one
``Nothing`` output per dataset it writes, so the Dagster graph shows Kedro's data flow.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import timezone
from functools import lru_cache, partial
from typing import Any

from kedro_dagster_runner.naming import dagster_name
from kedro_dagster_runner.spec import DERIVED_RUN_ID, NodeSpec, RunSpec

KEDRO_NODE_TAG = "kedro/node"


def kedro_tag_key(tag: str) -> str:
    """The op tag that marks a Kedro node tag, e.g. for ``tag_concurrency_limits`` keys."""
    return f"kedro-tag/{dagster_name(tag)}"


def _run_op(spec: RunSpec, context, inputs) -> Iterator[Any]:
    """Compute function of every op (used by Dagster's stock executors): run the op's node.

    ``context`` must stay unannotated: Dagster rejects any hint but its own context classes.
    """
    import dagster

    from kedro_dagster_runner.assets import asset_key_path
    from kedro_dagster_runner.worker import run_node

    if spec.run_id == DERIVED_RUN_ID:
        spec = spec_for_dagster_run(spec, context.run_id, context.instance)
    from kedro_dagster_runner.logging import capture, record_in_event_log

    node = spec.node_by_op[context.op.name]
    with capture() as logs:
        try:
            materialized, observed = run_node(spec, node)
        finally:
            for level, message in logs:
                record_in_event_log(context.log, level, message)
    for name, metadata in observed.items():
        yield dagster.AssetObservation(dagster.AssetKey(asset_key_path(name)), metadata=metadata)
    for name, metadata in materialized.items():
        key = dagster.AssetKey(asset_key_path(name))
        yield dagster.AssetMaterialization(key, metadata=metadata)
    for output_name in context.op.output_dict:
        yield dagster.Output(None, output_name=output_name)


_DERIVED: dict[tuple[str, str], RunSpec] = {}


def spec_for_dagster_run(spec: RunSpec, dagster_run_id: str, instance: Any) -> RunSpec:
    """A code-location job's spec with a Kedro run id derived from its Dagster run.

    Every process of the run derives the same id (the run's creation time, in Kedro's version
    format), so versioned datasets get one fresh save version per Dagster run.
    """
    key = (spec.job_name, dagster_run_id)
    if key not in _DERIVED:
        created = instance.get_run_record_by_id(dagster_run_id).create_timestamp
        stamp = created.astimezone(timezone.utc)
        kedro_run_id = stamp.strftime("%Y-%m-%dT%H.%M.%S.") + f"{stamp.microsecond // 1000:03d}Z"
        _DERIVED[key] = replace(spec, run_id=kedro_run_id)
    return _DERIVED[key]


def op_definition_name(spec: RunSpec, node: NodeSpec) -> str:
    """Definition names are per job (several jobs of one code location share node names and
    Dagster wants distinct definitions to have distinct names); ops are *invoked* under the node's
    op name, which is what step keys, the UI and re-execution use."""
    return f"{spec.job_name}__{node.op_name}"


def _make_op(spec: RunSpec, node: NodeSpec, consumed: set[str]) -> Any:
    """One op per node; built with ``OpDefinition`` directly (the decorator costs ~0.7 ms/op)."""
    import dagster

    return dagster.OpDefinition(
        name=op_definition_name(spec, node),
        ins={
            dagster_name(name): dagster.In(dagster.Nothing)
            for name in node.inputs
            if name in consumed
        },
        outs={dagster_name(name): dagster.Out(dagster.Nothing) for name in node.outputs},
        compute_fn=partial(_run_op, spec),
        description=f"Kedro node {node.name}",
        tags={KEDRO_NODE_TAG: node.name, **{kedro_tag_key(tag): "true" for tag in node.tags}},
    )


def _graph_dependencies(spec: RunSpec) -> tuple[dict[Any, dict[str, Any]], set[str]]:
    import dagster

    producer: dict[str, str] = {}
    for node in spec.nodes:
        for output in node.outputs:
            producer[output] = node.op_name
    dependencies: dict[Any, dict[str, Any]] = {}
    consumed: set[str] = set()
    for node in spec.nodes:
        edges = {}
        for name in node.inputs:
            upstream = producer.get(name)
            if upstream is not None and upstream != node.op_name:
                edges[dagster_name(name)] = dagster.DependencyDefinition(
                    upstream, dagster_name(name)
                )
                consumed.add(name)
        invocation = dagster.NodeInvocation(op_definition_name(spec, node), alias=node.op_name)
        dependencies[invocation] = edges
    return dependencies, consumed


def _allow_deep_graphs(node_count: int) -> None:
    """Dagster walks the op graph recursively: a chain of N ops needs a recursion depth above N.

    The limit is raised for the life of the process (plan building recurses again later).
    """
    needed = 2 * node_count + 1000
    if sys.getrecursionlimit() < needed:
        sys.setrecursionlimit(needed)


@lru_cache(maxsize=4)
def build_job(spec_json: str) -> Any:
    """Build the Dagster job of a run from its JSON run spec (the reconstruction target)."""
    import dagster

    from kedro_dagster_runner.executors import executor_definition

    spec = RunSpec.from_json(spec_json)
    _allow_deep_graphs(len(spec.nodes))
    dependencies, consumed = _graph_dependencies(spec)
    ops = [_make_op(spec, node, consumed) for node in spec.nodes]
    graph = dagster.GraphDefinition(
        name=spec.job_name,
        node_defs=ops,
        dependencies=dependencies,
        description=f"Kedro run {spec.run_id}",
    )
    return graph.to_job(
        name=spec.job_name,
        executor_def=executor_definition(spec),
        tags=spec.tags,
    )


def build_job_from_store(handoff_uri: str) -> Any:
    """Build the job from the spec the driver published in the run's handoff store."""
    from kedro_dagster_runner.handoff import HandoffStore

    return build_job(HandoffStore(handoff_uri).read_spec())


def reconstructable_job(spec: RunSpec) -> Any:
    """A ``ReconstructableJob`` any executor can rebuild in its own processes or containers.

    With a handoff store the pointer carries only the store's URI (step containers get the
    pointer on their command line, which must stay short); otherwise the spec's JSON.
    """
    import dagster

    if spec.handoff_uri:
        return dagster.build_reconstructable_job(
            "kedro_dagster_runner.job",
            "build_job_from_store",
            reconstructable_args=(spec.handoff_uri,),
        )
    return dagster.build_reconstructable_job(
        "kedro_dagster_runner.job", "build_job", reconstructable_args=(spec.to_json(),)
    )
