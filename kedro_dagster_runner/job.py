"""The job factory: one Dagster op per Kedro node, built from the run spec alone.

``build_job`` is a pure function of the run spec's JSON string. Dagster's reconstructable job
points at ``build_job_from_store`` with the run store's URI, so every process an executor starts
(step processes, containers, pods, a detached run's worker) rebuilds the identical job from the
spec published there, without importing the Kedro project. Op dependencies come from dataset names:
an op has one ``Nothing`` input per dataset it reads that another op of the run writes (the same
dataset once transcoding suffixes are stripped, as Kedro orders nodes), and one ``Nothing`` output
per dataset it writes, so the Dagster graph shows Kedro's data flow. Input and output names are
escaped dataset names that never clash and never hit a name Dagster reserves
(:func:`~kedro_dagster_runner.naming.unique_io_names`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import timezone
from functools import lru_cache, partial
from typing import TYPE_CHECKING

from kedro_dagster_runner.config.retry_policies import dagster_policy
from kedro_dagster_runner.errors import DagsterRunnerError, RunStoppedError
from kedro_dagster_runner.naming import dagster_name, unique_io_names
from kedro_dagster_runner.spec import DERIVED_RUN_ID, NodeSpec, RunSpec
from kedro_dagster_runner.toposort_levels import linear_toposort

if TYPE_CHECKING:
    import dagster
    from dagster import AssetMaterialization, AssetObservation, DagsterInstance

    from kedro_dagster_runner._compat import ReconstructableJob

    AssetRecord = AssetObservation | AssetMaterialization

KEDRO_NODE_TAG = "kedro/node"
KEDRO_PARTITION_TAG = "kedro/partition"
KEDRO_GROUP_TAG = "kedro/group"
KEDRO_GROUP_NODES_TAG = "kedro/group_nodes"
STEP_PRIORITY_TAG = "dagster/priority"


def kedro_tag_key(tag: str) -> str:
    """The op tag that marks a Kedro node tag, e.g. for ``tag_concurrency_limits`` keys."""
    return f"kedro-tag/{dagster_name(tag)}"


def _run_op(spec: RunSpec, context, inputs) -> Iterator[AssetRecord | dagster.Output]:
    """Compute function of every op (used by Dagster's stock executors): run the op's node.

    Logs and asset records come from the step's outcome, as under the package's own executor;
    a failing node raises its own exception, so Dagster records the step's failure with it.
    ``context`` must stay unannotated: Dagster rejects any hint but its own context classes.
    """
    import dagster

    from kedro_dagster_runner.workers.records import (
        asset_records,
        check_evaluations,
        write_node_logs,
    )
    from kedro_dagster_runner.workers.step import run_step

    if spec.run_id == DERIVED_RUN_ID:
        spec = spec_for_dagster_run(spec, context.run_id, context.instance)
    if spec.stops_at_first_failure:
        _refuse_after_a_failure(context.instance, context.run_id, spec, context.op.name)
    outcome = run_step(spec, context.op.name)
    write_node_logs(context.log, outcome)
    yield from check_evaluations(outcome)  # a failed validation may be why the node failed
    if outcome.failure is not None:
        raise outcome.failure.stand_in()
    yield from asset_records(outcome)
    for output_name in context.op.output_dict:
        yield dagster.Output(None, output_name=output_name)


def _refuse_after_a_failure(
    instance: DagsterInstance, dagster_run_id: str, spec: RunSpec, op_name: str
) -> None:
    """Raise :class:`RunStoppedError` when a step of the run already failed: Dagster's stock
    executors start every step whose upstream succeeded, Kedro's runners start nothing new."""
    import dagster

    failures = instance.get_records_for_run(
        dagster_run_id, of_type=dagster.DagsterEventType.STEP_FAILURE, limit=1
    ).records
    if failures:
        failed_op = failures[0].event_log_entry.step_key
        failed = spec.node_by_op.get(str(failed_op))
        raise RunStoppedError(
            f"Node '{spec.node_by_op[op_name].label}' not started: node "
            f"'{failed.label if failed else failed_op}' failed and the run stops at its first "
            "failure, as Kedro's runners do (runner.on_failure: continue runs on)."
        )


_DERIVED: dict[tuple[str, str], RunSpec] = {}
_DERIVED_KEPT = 64  # a long-lived run worker serves many runs: keep the recent ones only


def spec_for_dagster_run(spec: RunSpec, dagster_run_id: str, instance: DagsterInstance) -> RunSpec:
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
        while len(_DERIVED) > _DERIVED_KEPT:
            _DERIVED.pop(next(iter(_DERIVED)))  # the oldest
    return _DERIVED[key]


def op_definition_name(spec: RunSpec, node: NodeSpec) -> str:
    """Definition names are per job (several jobs of one code location share node names and
    Dagster wants distinct definitions to have distinct names); ops are *invoked* under the node's
    op name, which is what step keys, the UI and re-execution use."""
    return f"{spec.job_name}__{node.op_name}"


def _make_op(
    spec: RunSpec, node: NodeSpec, io_names: dict[str, str], consumed: set[str], priority: int
) -> dagster.OpDefinition:
    """One op per node; built with ``OpDefinition`` directly (the decorator costs ~0.7 ms/op).

    ``priority`` (Dagster's step priority tag, higher starts first among ready steps) is the
    node's rank from the end of Kedro's topological order, so every executor starts ready nodes
    in the order Kedro's runners do.
    """
    import dagster

    return dagster.OpDefinition(
        name=op_definition_name(spec, node),
        ins={
            io_names[name]: dagster.In(dagster.Nothing, description=f"Kedro dataset {name}")
            for name in node.inputs
            if name in consumed
        },
        outs={
            io_names[name]: dagster.Out(dagster.Nothing, description=f"Kedro dataset {name}")
            for name in node.outputs
        },
        compute_fn=partial(_run_op, spec),
        retry_policy=dagster_policy(node.retry_policy) if node.retry_policy else None,
        pool=node.pool,
        description=_op_description(node),
        tags={
            **(
                {KEDRO_GROUP_TAG: node.name, KEDRO_GROUP_NODES_TAG: ",".join(node.members)}
                if node.members
                else {KEDRO_NODE_TAG: node.name}
            ),
            **({KEDRO_PARTITION_TAG: node.partition_key} if node.partition_key is not None else {}),
            STEP_PRIORITY_TAG: str(priority),
            **{kedro_tag_key(tag): "true" for tag in node.tags},
            **node.op_tags,
        },
    )


def _op_description(node: NodeSpec) -> str:
    if node.members:
        return f"Kedro nodes {', '.join(node.members)} (group {node.name}, run in this order)"
    if node.partition_key is not None:
        return f"Kedro node {node.name}, partition {node.partition_key}"
    return f"Kedro node {node.name}"


def _graph_dependencies(
    spec: RunSpec, io_names: dict[str, str]
) -> tuple[dict[dagster.NodeInvocation, dict[str, dagster.IDependencyDefinition]], set[str]]:
    """Edges from each dataset's writers to its readers, as Kedro orders nodes: by the dataset
    name without its transcoding suffix (a node reading ``df@spark`` runs after the one writing
    ``df@pandas``). An input written by several ops (the partitions of a fanned-out node) takes
    them all, or those of the partitions the reading op reads."""
    import dagster

    dependencies: dict[dagster.NodeInvocation, dict[str, dagster.IDependencyDefinition]] = {}
    consumed: set[str] = set()
    for node in spec.nodes:
        sources: dict[str, list[dagster.DependencyDefinition]] = {}
        for name, writer, written in spec.upstream(node):
            sources.setdefault(io_names[name], []).append(
                dagster.DependencyDefinition(writer.op_name, io_names[written])
            )
            consumed.add(name)
        invocation = dagster.NodeInvocation(op_definition_name(spec, node), alias=node.op_name)
        dependencies[invocation] = {
            io_name: found[0] if len(found) == 1 else dagster.MultiDependencyDefinition(found)
            for io_name, found in sources.items()
        }
    return dependencies, consumed


def _allow_deep_graphs(node_count: int) -> None:
    """Dagster walks the op graph recursively: a chain of N ops needs a recursion depth above N.

    The limit is raised for the life of the process (plan building recurses again later).
    """
    needed = 2 * node_count + 1000
    if sys.getrecursionlimit() < needed:
        sys.setrecursionlimit(needed)


@lru_cache(maxsize=4)
def build_job(spec_json: str) -> dagster.JobDefinition:
    """Build the Dagster job of a run from its JSON run spec (a pure function of it)."""
    import dagster

    from kedro_dagster_runner.executors import kind_named

    spec = RunSpec.from_json(spec_json)
    _allow_deep_graphs(len(spec.nodes))
    io_names = unique_io_names(
        name for node in spec.nodes for name in (*node.inputs, *node.outputs)
    )
    dependencies, consumed = _graph_dependencies(spec, io_names)
    ops = [
        _make_op(spec, node, io_names, consumed, priority=len(spec.nodes) - index)
        for index, node in enumerate(spec.nodes)
    ]
    with linear_toposort():  # Dagster sorts the graph in O(N^2) otherwise
        graph = dagster.GraphDefinition(
            name=spec.job_name,
            node_defs=ops,
            dependencies=dependencies,
            description=f"Kedro run {spec.run_id}",
        )
        return graph.to_job(
            name=spec.job_name,
            executor_def=kind_named(spec.executor_kind).executor_definition(spec),
            tags=spec.tags,
            partitions_def=_partitions_definition(spec),
            resource_defs=_launchpad_resources(spec),
            **_logger_options(spec),
        )


def _launchpad_resources(spec: RunSpec) -> dict[str, dagster.ResourceDefinition] | None:
    """A code-location job's typed Kedro parameters (``None`` for other jobs)."""
    if spec.parameters is None:
        return None
    from kedro_dagster_runner.ui.launchpad_params import PARAMS_RESOURCE, params_resource

    return {PARAMS_RESOURCE: params_resource(spec.parameters)}


def _partitions_definition(spec: RunSpec) -> dagster.PartitionsDefinition | None:
    """The Dagster partitions of a partitioned code-location job (``None`` for other jobs)."""
    if spec.partitions is None:
        return None
    from kedro_dagster_runner.partitions.definitions import PartitionsConfig

    return PartitionsConfig(**spec.partitions).dagster_definition()


def _logger_options(spec: RunSpec) -> dict[str, object]:
    """``to_job`` arguments attaching the spec's dagster.yml loggers beside Dagster's console
    logger, active by default (so launches from the UI and schedules use them too)."""
    if not spec.loggers:
        return {}
    from kedro_dagster_runner import _compat
    from kedro_dagster_runner.config.loggers import LoggerSettings, logger_definition

    defined = {
        name: logger_definition(name, LoggerSettings.model_validate(settings))
        for name, settings in spec.loggers.items()
    }
    return {
        "logger_defs": {**_compat.default_loggers(), **defined},
        "config": {"loggers": {name: {} for name in defined}},
    }


def build_job_from_store(store_uri: str) -> dagster.JobDefinition:
    """Build the job from the spec the driver published in the run's store (the reconstruction
    target: every process that rebuilds the job gets only the store's URI)."""
    from kedro_dagster_runner.workers.runtime import spec_at

    return build_job(spec_at(store_uri).to_json())


def reconstructable_job(spec: RunSpec) -> ReconstructableJob:
    """A reconstructable job any executor can rebuild in its own processes or containers.

    The pointer carries only the URI of the run's store (step containers get it on their command
    line, which must stay short, and it is stored with the run, which must hold no secret).
    """
    import dagster

    if not spec.handoff_uri:
        raise DagsterRunnerError(f"Run {spec.run_id} has no run store to rebuild its job from.")
    return dagster.build_reconstructable_job(
        "kedro_dagster_runner.job", "build_job_from_store", reconstructable_args=(spec.handoff_uri,)
    )
