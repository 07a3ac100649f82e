"""The run spec: everything a worker needs to run a node, as one JSON document.

The driver never ships the catalog, the hook manager or node objects (the catalog class is
composed at runtime and does not pickle; lambda nodes do not either). Workers rebuild them from
the project described here. The spec is also the single input of the job factory, so any
Dagster executor can rebuild the job from it.

It reaches other processes one way: the driver publishes it in the run's store
(:mod:`kedro_dagster_runner.workers.store`) and every process gets only the store's URI. The
executor's options are not part of it: they travel in Dagster's run config
(``execution.config``), like those of any Dagster executor.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any

from kedro_dagster_runner.naming import strip_transcoding

DERIVED_RUN_ID = ""  # run_id of code-location jobs: each Dagster run derives its own


@dataclass(frozen=True)
class ProjectSpec:
    """How to rebuild the driver's Kedro context in another process.

    The run's ``--params`` and load versions are not here: they may hold secrets or values JSON
    cannot carry, so they travel in the run's store (``workers.runtime.RunInputs``).
    """

    project_path: str
    package_name: str | None
    env: str | None
    conf_source: str | None
    pipeline_names: list[str] | None = None


@dataclass(frozen=True)
class NodeSpec:
    """One op of the job: a Kedro node (names and dataset edges only), or one partition of a
    node fanned out over partitions (:mod:`kedro_dagster_runner.partitions.fanout`).

    Attributes:
        partition_key: The key of the op's partition; ``None`` when the op runs the whole node.
        partition_reads: Partitioned input -> the partitions the op reads.
        partitioned_outputs: The node's outputs the op writes one partition of.
        op_tags: Tags the executor kind puts on the op (``ExecutorKind.op_tags``: a queue).
        retry_policy: The node's retry policy from ``dagster.yml`` (``max_retries``, ``delay``,
            ``backoff``, ``jitter``), if any.
        pool: The Dagster concurrency pool of the node, from ``dagster.yml``, if any.
        members: For the op of a node group (:mod:`kedro_dagster_runner.grouping`), the Kedro
            nodes it runs, in Kedro's order; ``name`` is then the group's name, ``inputs`` what
            its nodes read from outside the group and ``outputs`` all they write. Empty for the
            op of one node.
    """

    name: str
    op_name: str
    inputs: list[str]
    outputs: list[str]
    tags: list[str] = field(default_factory=list)
    partition_key: str | None = None
    partition_reads: dict[str, list[str]] = field(default_factory=dict)
    partitioned_outputs: list[str] = field(default_factory=list)
    op_tags: dict[str, str] = field(default_factory=dict)
    retry_policy: dict[str, Any] | None = None
    pool: str | None = None
    members: list[str] = field(default_factory=list)

    @property
    def node_names(self) -> list[str]:
        """The Kedro nodes the op runs, in order."""
        return self.members or [self.name]

    @property
    def label(self) -> str:
        """The node's name, with the op's partition when it runs one: ``daily (2024-01-03)``;
        for a group, its name and nodes: ``group train (split, fit)``."""
        if self.members:
            return f"group {self.name} ({', '.join(self.members)})"
        return self.name if self.partition_key is None else f"{self.name} ({self.partition_key})"


@dataclass(frozen=True)
class RunSpec:
    """One ``kedro run`` executed by DagsterRunner.

    Attributes:
        run_id: Kedro's run id (the session id); also the save version of versioned datasets.
        job_name: Name of the Dagster job.
        nodes: The nodes to run, in Kedro's topological order.
        executor_kind: The executor kind the job is built with (its options are in the run
            config).
        handoff_uri: URI of the run's store (spec, node failures, data crossing processes);
            ``None`` for the jobs of the code location.
        handoff_datasets: Datasets that go through the handoff store instead of the catalog.
        persisted_datasets: Datasets the catalog persists (reported as Dagster assets).
        project: How workers rebuild the Kedro context; ``None`` when the run is in-process only.
        is_async: Kedro's ``is_async`` (threads for load/save inside a node).
        tags: Dagster run tags.
        handoff_owned_by_run: The run removes its handoff store when it ends (a detached run
            nobody follows); otherwise the driver does.
        mlflow_run_id: The MLflow run the driver's session has active (kedro-mlflow starts
            one); workers log to it.
        mlflow_tracking_uri: The driver's MLflow tracking URI when it carries no credentials.
        on_failure: ``stop`` (Kedro's runners: no node starts after a failure) or ``continue``
            (nodes independent of the failed one still run).
        private_env_names: Variables of the driver's environment that processes running only
            nodes do not get (the instance's password variable: only processes that open the
            instance need it).
        loggers: dagster.yml loggers the job writes its event log to, by name (their settings,
            as ``config.loggers.LoggerSettings`` dumps them).
        partitions: The partitions definition of a partitioned code-location job (as
            ``partitions.definitions.PartitionsConfig`` dumps it): each Dagster run of the job
            is launched for one of its keys.
        parameters: The project's parameters, for a code-location job: the defaults of its
            typed launchpad config (:mod:`kedro_dagster_runner.ui.launchpad_params`).
        in_step_datasets: In-memory datasets written and read inside one node group only: the
            process running the group keeps them in memory (they are not handoff datasets).
    """

    run_id: str
    job_name: str
    nodes: list[NodeSpec]
    executor_kind: str
    handoff_uri: str | None = None
    handoff_datasets: list[str] = field(default_factory=list)
    persisted_datasets: list[str] = field(default_factory=list)
    project: ProjectSpec | None = None
    is_async: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    handoff_owned_by_run: bool = False
    mlflow_run_id: str | None = None
    mlflow_tracking_uri: str | None = None
    on_failure: str = "stop"
    private_env_names: list[str] = field(default_factory=list)
    loggers: dict[str, dict[str, Any]] = field(default_factory=dict)
    partitions: dict[str, Any] | None = None
    parameters: dict[str, Any] | None = None
    in_step_datasets: list[str] = field(default_factory=list)

    @property
    def node_count(self) -> int:
        """How many Kedro nodes the run runs (a group's nodes each, a partition op as one)."""
        return sum(len(node.node_names) for node in self.nodes)

    @property
    def retries_nodes(self) -> bool:
        """True when a node of the run has a retry policy (its executor must allow retries)."""
        return any(node.retry_policy for node in self.nodes)

    @property
    def uses_pools(self) -> bool:
        """True when a node of the run is in a concurrency pool."""
        return any(node.pool for node in self.nodes)

    @property
    def stops_at_first_failure(self) -> bool:
        """True when no node may start once a node of the run failed (Kedro's behaviour)."""
        return self.on_failure == "stop"

    def to_json(self) -> str:
        """Serialise to the canonical JSON string (stable key order)."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> RunSpec:
        """Inverse of :meth:`to_json`."""
        data = json.loads(text)
        project = data.pop("project")
        nodes = [NodeSpec(**node) for node in data.pop("nodes")]
        return cls(
            **data, nodes=nodes, project=ProjectSpec(**project) if project is not None else None
        )

    @cached_property
    def writers(self) -> dict[str, list[tuple[NodeSpec, str]]]:
        """Dataset (without its transcoding suffix) -> the ops writing it and the name each
        writes (Kedro orders nodes by these edges: ``df@spark`` is read after ``df@pandas`` is
        written; a fanned-out node has one op per partition)."""
        writers: dict[str, list[tuple[NodeSpec, str]]] = {}
        for node in self.nodes:
            for output in node.outputs:
                writers.setdefault(strip_transcoding(output), []).append((node, output))
        return writers

    def upstream(self, node: NodeSpec) -> list[tuple[str, NodeSpec, str]]:
        """``(input, writer, written name)`` for each op writing an input of ``node`` (of a
        partitioned input, only the ops writing the partitions ``node`` reads)."""
        edges = []
        for name in node.inputs:
            reads = node.partition_reads.get(name)
            for writer, written in self.writers.get(strip_transcoding(name), ()):
                unread = (
                    reads is not None
                    and writer.partition_key is not None
                    and writer.partition_key not in reads
                )
                if writer.op_name != node.op_name and not unread:
                    edges.append((name, writer, written))
        return edges

    def parallel_width(self) -> int:
        """An upper bound of how many nodes can run at once, as Kedro's ParallelRunner counts it:
        the number of nodes minus the number of topological layers, plus one."""
        layer: dict[str, int] = {}
        for node in self.nodes:  # in Kedro's topological order
            layer[node.op_name] = 1 + max(
                (layer.get(writer.op_name, 0) for _, writer, _ in self.upstream(node)), default=0
            )
        return len(self.nodes) - max(layer.values(), default=0) + 1

    @cached_property
    def node_by_op(self) -> dict[str, NodeSpec]:
        """Op name -> node (the authoritative reverse of the op naming)."""
        return {node.op_name: node for node in self.nodes}
