"""Which nodes of a run fan out over partitions, for which keys, reading which partitions.

A node *fans out* when it reads a :class:`~kedro_dagster_runner.datasets.DagsterPartitionedDataset`
and writes one: the run gives it one op per key of its output's partitions, and the op's node
sees, of each partitioned input, only the partitions its key maps to (the input's
``partition_mapping`` for that output, else Dagster's default: identity between equal
definitions, a time-window mapping between time windows, all partitions otherwise). Any other
node runs once, over whole datasets, as under Kedro's runners: a node that only writes
partitions (a split) or only reads them (an aggregate) is such a node.

For a node computing each output partition from its mapped input partitions (what a partitioned
pipeline is written for), the union of the ops' outputs is what Kedro's SequentialRunner writes
for the whole dataset.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kedro_dagster_runner.errors import PartitionError
from kedro_dagster_runner.partitions.definitions import (
    MappingConfig,
    PartitionsConfig,
    default_mapping,
)

_LOGGER = logging.getLogger("kedro_dagster_runner.partitions")

if TYPE_CHECKING:
    import dagster
    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline
    from kedro.pipeline.node import Node

    from kedro_dagster_runner.datasets import DagsterPartitionedDataset
    from kedro_dagster_runner.spec import NodeSpec, RunSpec


@dataclass(frozen=True)
class PartitionStep:
    """One op of a fanned-out node: its key and the input partitions it reads."""

    key: str
    reads: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class FanOut:
    """A run's fanned-out nodes: node name -> its ops, in key order (nodes absent run once)."""

    steps: dict[str, list[PartitionStep]] = field(default_factory=dict)


def loaded_dataset_type(module: str, name: str) -> type | None:
    """The class ``name`` of the package's ``datasets.<module>``, or ``None`` when that module
    was never imported. Ask only about a dataset already built (``catalog.get``): Kedro imports
    a dataset's module to build it, so a dataset of that class implies the module is loaded.
    Plain runs so never import ``kedro-datasets`` here."""
    loaded = sys.modules.get(f"kedro_dagster_runner.datasets.{module}")
    return getattr(loaded, name, None)


def partitioned_datasets(
    pipeline: Pipeline, catalog: CatalogProtocol
) -> dict[str, DagsterPartitionedDataset]:
    """The pipeline's datasets of the package's partitioned type, by name (built first: Kedro's
    catalog builds its datasets lazily)."""
    built = {name: catalog.get(name) for name in sorted(pipeline.datasets()) if name in catalog}
    partitioned = loaded_dataset_type("partitioned", "DagsterPartitionedDataset")
    if partitioned is None:
        return {}
    return {name: dataset for name, dataset in built.items() if isinstance(dataset, partitioned)}


def parse_selection(text: str | list[str] | None) -> list[str] | tuple[str, str] | None:
    """``--runner-params partitions=``: ``a,b,c`` (keys), ``start...end`` (a range, Dagster's
    launchpad syntax), or ``None`` for every key."""
    if text is None or text == "":
        return None
    if isinstance(text, list):
        return [str(key) for key in text]
    if "..." in text:
        start, _, end = text.partition("...")
        return (start.strip(), end.strip())
    return [key.strip() for key in text.split(",") if key.strip()]


def _select(
    keys: list[str], selection: list[str] | tuple[str, str] | None, where: str
) -> list[str]:
    if selection is None:
        return keys
    if isinstance(selection, tuple):
        start, end = selection
        if start not in keys or end not in keys:
            missing = [key for key in (start, end) if key not in keys]
            raise PartitionError(
                f"partitions={start}...{end}: {missing} not among the partitions of {where} "
                f"({_preview(keys)})."
            )
        return keys[keys.index(start) : keys.index(end) + 1]
    unknown = [key for key in selection if key not in keys]
    if unknown:
        raise PartitionError(
            f"partitions={','.join(selection)}: {unknown} not among the partitions of {where} "
            f"({_preview(keys)})."
        )
    return [key for key in keys if key in selection]


def _preview(keys: list[str]) -> str:
    if not keys:
        return "it has none yet"
    shown = ", ".join(keys[:5])
    return f"{shown}, ... {keys[-1]}; {len(keys)} in all" if len(keys) > 5 else shown


def _static_stand_in(keys: Iterable[str]) -> dagster.PartitionsDefinition:
    import dagster

    return dagster.StaticPartitionsDefinition(sorted(set(keys)))


class _Planner:
    """Walks the nodes in Kedro's order, tracking the keys each partitioned dataset has."""

    def __init__(
        self,
        partitioned: dict[str, DagsterPartitionedDataset],
        selection: list[str] | tuple[str, str] | None,
    ) -> None:
        self.partitioned = partitioned
        self.selection = selection
        self.written: dict[str, list[str]] = {}  # dataset -> keys this run writes
        self._own_keys: dict[str, list[str]] = {}  # once per dataset: asked for per key

    def available(self, name: str) -> list[str]:
        """The keys of a partitioned dataset at this point of the run: its definition's (a
        dynamic one's: those stored) and those the run writes before."""
        if name not in self._own_keys:
            self._own_keys[name] = self.partitioned[name].partition_keys()
        return list(dict.fromkeys([*self._own_keys[name], *self.written.get(name, [])]))

    def definition_of(self, name: str, keys: list[str]) -> dagster.PartitionsDefinition:
        """The dataset's Dagster definition (a dynamic one: the static one of ``keys``)."""
        config = self.partitioned[name].partitions
        return _static_stand_in(keys) if config.is_dynamic else config.dagster_definition()

    def output_keys(self, node: Node, outputs: list[str], inputs: list[str]) -> list[str]:
        main = self.partitioned[outputs[0]]
        if not main.partitions.is_dynamic:
            keys = self.available(outputs[0])
        else:  # the keys it has, and those of inputs it maps one to one
            keys = set(main.stored_keys())
            for name in inputs:
                if self.mapping(name, outputs[0]).kind == "IdentityPartitionMapping":
                    keys |= set(self.available(name))
            keys = sorted(keys)
        where = f"dataset '{outputs[0]}' (written by node '{node.name}')"
        selected = _select(keys, self.selection, where) if self.selection else keys
        return selected

    def mapping(self, upstream: str, downstream: str) -> MappingConfig:
        declared = self.partitioned[upstream].mapping_to(downstream)
        if declared is not None:
            return declared
        return default_mapping(
            self.partitioned[upstream].partitions, self.partitioned[downstream].partitions
        )

    def reads(
        self, upstream: str, downstream: str, key: str, downstream_keys: list[str]
    ) -> list[str]:
        """The partitions of ``upstream`` that partition ``key`` of ``downstream`` reads."""
        upstream_keys = self.available(upstream)
        mapping = self.mapping(upstream, downstream)
        if mapping.kind == "AllPartitionMapping":
            return list(upstream_keys)
        if mapping.kind == "IdentityPartitionMapping":
            return [key]
        down_def = self.definition_of(downstream, downstream_keys)
        up_def = self.definition_of(upstream, upstream_keys)
        result = mapping.dagster_mapping().get_upstream_mapped_partitions_result_for_partitions(
            down_def.subset_with_partition_keys([key]), down_def, up_def
        )
        mapped = set(result.partitions_subset.get_partition_keys())
        return [k for k in upstream_keys if k in mapped]


def plan_fan_out(
    pipeline: Pipeline,
    catalog: CatalogProtocol,
    selection: list[str] | tuple[str, str] | None = None,
) -> FanOut:
    """The fan-out of ``pipeline``'s nodes (in Kedro's order).

    Raises:
        PartitionError: A node writes partitioned datasets of different definitions; a selected
            key is not a partition of a fanned-out node's output; a selection but no node fans
            out.
    """
    partitioned = partitioned_datasets(pipeline, catalog)
    _check_definitions(partitioned)
    planner = _Planner(partitioned, selection)
    steps: dict[str, list[PartitionStep]] = {}
    fanned = fanned_out_nodes(pipeline, catalog, partitioned)
    for node in pipeline.nodes:
        if node.name not in fanned:
            continue
        _, outputs = fanned[node.name]
        inputs = [name for name in node.inputs if name in partitioned]
        keys = planner.output_keys(node, outputs, inputs)
        steps[node.name] = [
            PartitionStep(
                key,
                {name: planner.reads(name, outputs[0], key, keys) for name in inputs},
            )
            for key in keys
        ]
        for name in outputs:
            planner.written[name] = keys
    if selection is not None and not steps:
        raise PartitionError(
            "partitions= selects partitions, but no node of this run fans out over them: a "
            "node fans out when it reads and writes a DagsterPartitionedDataset."
        )
    return FanOut(steps)


def fanned_out_nodes(
    pipeline: Pipeline,
    catalog: CatalogProtocol,
    partitioned: dict[str, DagsterPartitionedDataset] | None = None,
) -> dict[str, tuple[PartitionsConfig, list[str]]]:
    """Node name -> (its outputs' partitions definition, its partitioned outputs) for each node
    that fans out (keys are not computed).

    Raises:
        PartitionError: A node writes partitioned datasets of different definitions, or a
            dataset that is neither partitioned nor a Nothing dataset.
    """
    if partitioned is None:
        partitioned = partitioned_datasets(pipeline, catalog)
    fanned = {}
    unknown_keys: set[str] = set()  # dynamic datasets whose keys are known only once written
    for node in pipeline.nodes:
        outputs = [name for name in node.outputs if name in partitioned]
        if not outputs or not any(name in partitioned for name in node.inputs):
            unknown_keys.update(name for name in outputs if partitioned[name].partitions.is_dynamic)
            continue
        late = sorted(name for name in node.inputs if name in unknown_keys)
        if late:
            _LOGGER.info(
                "Node '%s' runs once over all partitions, not one op per key: the keys of %s "
                "are known only once this run's node writing it has run.",
                node.name,
                ", ".join(f"'{name}'" for name in late),
            )
            unknown_keys.update(outputs)
            continue
        _check_other_outputs(node, outputs, catalog)
        config = partitioned[outputs[0]].partitions
        for other in outputs[1:]:
            if not partitioned[other].partitions.same_as(config):
                raise PartitionError(
                    f"Node '{node.name}' writes partitioned datasets '{outputs[0]}' and "
                    f"'{other}' with different partitions: a node fanned out over partitions "
                    "writes one set of keys."
                )
        fanned[node.name] = (config, outputs)
    return fanned


RUN_PARTITION = "{the run's partition}"
"""``NodeSpec.partition_key`` of a partitioned node in a code-location job: the op runs for the
partition the Dagster run is launched for (:func:`for_run_partition`)."""


def for_run_partition(
    spec: RunSpec, key: str | None, pipeline: Pipeline, catalog: CatalogProtocol
) -> RunSpec:
    """``spec`` with its :data:`RUN_PARTITION` ops set to partition ``key`` (the Dagster run's
    ``dagster/partition`` tag) and the input partitions each reads.

    Raises:
        PartitionError: The job is partitioned but the run has no partition key, or the key is
            not one of the partitions.
    """
    from dataclasses import replace

    marked = {node.name for node in spec.nodes if node.partition_key == RUN_PARTITION}
    if not marked:
        return spec
    if key is None:
        raise PartitionError(
            f"Job '{spec.job_name}' is partitioned: launch it for a partition (the launchpad's "
            "partition selector, a backfill, or a partitioned schedule)."
        )
    fan_out = plan_fan_out(pipeline.only_nodes(*sorted(marked)), catalog, [key])
    nodes = []
    for node in spec.nodes:
        if node.partition_key == RUN_PARTITION:
            (step,) = fan_out.steps[node.name]
            nodes.append(replace(node, partition_key=step.key, partition_reads=dict(step.reads)))
        else:
            nodes.append(node)
    return replace(spec, nodes=nodes)


def _check_definitions(partitioned: dict[str, DagsterPartitionedDataset]) -> None:
    """Dagster's checks of each definition's and mapping's arguments, before any node runs.

    Raises:
        PartitionError: Naming the dataset whose entry Dagster refuses.
    """
    for name, dataset in partitioned.items():
        try:
            if not dataset.partitions.is_dynamic:
                dataset.partitions.dagster_definition()
            for mapping in dataset.mappings.values():
                mapping.dagster_mapping()
        except ValueError as error:
            raise PartitionError(f"Dataset '{name}' (catalog): {error}") from error


def _check_other_outputs(
    node: Node, partitioned_outputs: list[str], catalog: CatalogProtocol
) -> None:
    """A fanned-out node's outputs are partitions (or ordering-only Nothing datasets): any other
    output would be written by every op in turn."""
    nothing = loaded_dataset_type("nothing", "DagsterNothingDataset")
    for name in node.outputs:
        if name in partitioned_outputs:
            continue
        if nothing is not None and name in catalog and isinstance(catalog.get(name), nothing):
            continue
        raise PartitionError(
            f"Node '{node.name}' fans out over the partitions of '{partitioned_outputs[0]}' but "
            f"also writes '{name}', which is not partitioned: each partition's op would write "
            "it in turn. Make it a DagsterPartitionedDataset or a DagsterNothingDataset, or "
            "compute it in a node of its own."
        )


def node_specs(pipeline: Pipeline, fan_out: FanOut, catalog: CatalogProtocol) -> list[NodeSpec]:
    """The ops of a run, in Kedro's order: one per node, one per partition of a fanned-out node
    (consecutive, in key order)."""
    from kedro_dagster_runner.naming import unique_step_names
    from kedro_dagster_runner.spec import NodeSpec

    partitioned = set(partitioned_datasets(pipeline, catalog)) if fan_out.steps else set()
    steps = [
        (node, step) for node in pipeline.nodes for step in fan_out.steps.get(node.name, [None])
    ]
    op_names = unique_step_names((node.name, step.key if step else None) for node, step in steps)
    return [
        NodeSpec(
            name=node.name,
            op_name=op_names[(node.name, step.key if step else None)],
            inputs=list(node.inputs),
            outputs=list(node.outputs),
            tags=sorted(node.tags),
            partition_key=step.key if step else None,
            partition_reads=dict(step.reads) if step else {},
            partitioned_outputs=[name for name in node.outputs if name in partitioned]
            if step
            else [],
        )
        for node, step in steps
    ]
