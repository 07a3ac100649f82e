"""Kedro datasets as the code location's Dagster assets: one ``AssetSpec`` per persisted dataset.

An asset's dependencies are the persisted datasets it is computed from, through any in-memory
datasets in between, so the lineage graph shows what a user can see on disk. Asset keys are the
ones runs materialize (:func:`kedro_dagster_runner.naming.asset_key_path`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import dagster

from kedro_dagster_runner import _compat
from kedro_dagster_runner.naming import asset_key_path, dagster_name, strip_transcoding
from kedro_dagster_runner.partitions.fanout import loaded_dataset_type
from kedro_dagster_runner.workers.handoff import is_parameter, needs_handoff, persisted_datasets

if TYPE_CHECKING:
    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline

    from kedro_dagster_runner.datasets.partitioned import DagsterPartitionedDataset


def dataset_lineage(pipeline: Pipeline, persisted: set[str]) -> dict[str, set[str]]:
    """Persisted dataset -> the persisted datasets it is computed from (through memory data).

    Datasets are named without their transcoding suffix: ``df@pandas`` and ``df@spark`` are one
    dataset ``df``, as Kedro sees them.
    """
    persisted = {strip_transcoding(name) for name in persisted}
    producer = {
        strip_transcoding(output): node for node in pipeline.nodes for output in node.outputs
    }
    resolved: dict[str, set[str]] = {}

    def sources(name: str, seen: frozenset[str]) -> set[str]:
        name = strip_transcoding(name)
        if is_parameter(name) or name in seen:
            return set()
        if name in persisted:
            return {name}
        if name in resolved:
            return resolved[name]
        node = producer.get(name)
        found = set().union(*(sources(i, seen | {name}) for i in node.inputs)) if node else set()
        resolved[name] = found
        return found

    lineage: dict[str, set[str]] = {}
    for node in pipeline.nodes:
        upstream = set().union(*(sources(name, frozenset()) for name in node.inputs))
        for output in map(strip_transcoding, node.outputs):
            if output in persisted:
                lineage[output] = lineage.get(output, set()) | (upstream - {output})
    for name in map(strip_transcoding, pipeline.inputs()):
        if name in persisted:
            lineage.setdefault(name, set())
    return lineage


def asset_specs(pipeline: Pipeline, catalog: CatalogProtocol) -> list[dagster.AssetSpec]:
    """One asset per persisted dataset of ``pipeline`` (transcoded names share one), with its
    lineage."""
    persisted = {
        name
        for name in pipeline.datasets()
        if not is_parameter(name) and not needs_handoff(name, catalog)
    }
    names: dict[str, list[str]] = {}  # dataset -> its catalog names (several when transcoded)
    for name in sorted(persisted):
        names.setdefault(strip_transcoding(name), []).append(name)
    writers = {
        strip_transcoding(output): (node.name, output)
        for node in pipeline.nodes
        for output in node.outputs
    }
    specs = []
    for base, deps in sorted(dataset_lineage(pipeline, persisted).items()):
        writer, written = writers.get(base, (None, None))
        name = written if written in persisted else names[base][0]
        dataset = catalog.get(name)
        metadata = {"kedro/dataset": name, "dataset_type": type(dataset).__name__}
        if len(names[base]) > 1:
            metadata["kedro/transcoded_as"] = ", ".join(names[base])
        filepath = _compat.dataset_filepath(dataset)
        if filepath is not None:
            metadata["filepath"] = filepath
        specs.append(
            dagster.AssetSpec(
                key=dagster.AssetKey(asset_key_path(base)),
                deps=[_dependency(dep, name, catalog) for dep in sorted(deps)],
                partitions_def=_partitions_of(dataset),
                description=f"Kedro dataset {base}"
                + (f", written by node {writer}" if writer else ", an input of the project"),
                group_name=dagster_name(base.rsplit(".", 1)[0]) if "." in base else "kedro",
                metadata=metadata,
                kinds={"kedro", "nothing"} if _is_nothing(dataset) else {"kedro"},
            )
        )
    return specs


def _is_nothing(dataset: object) -> bool:
    nothing = loaded_dataset_type("nothing", "DagsterNothingDataset")
    return nothing is not None and isinstance(dataset, nothing)


def _partitioned(dataset: object) -> DagsterPartitionedDataset | None:
    partitioned = loaded_dataset_type("partitioned", "DagsterPartitionedDataset")
    return dataset if partitioned is not None and isinstance(dataset, partitioned) else None


def _partitions_of(dataset: object) -> dagster.PartitionsDefinition | None:
    """A partitioned dataset's Dagster partitions (a dynamic definition's keys are not known to
    the instance: its asset is shown unpartitioned)."""
    partitioned = _partitioned(dataset)
    if partitioned is not None and not partitioned.partitions.is_dynamic:
        return partitioned.partitions.dagster_definition()
    return None


def _dependency(upstream: str, downstream: str, catalog: CatalogProtocol) -> dagster.AssetDep:
    """The edge from ``upstream``'s asset, with the partition mapping between two partitioned
    datasets (the one declared on ``upstream`` for ``downstream``, else Dagster's default)."""
    key = dagster.AssetKey(asset_key_path(upstream))
    source = catalog.get(upstream) if upstream in catalog else None
    target = catalog.get(downstream)
    partitioned = _partitioned(source)
    if partitioned is None or _partitions_of(source) is None or _partitions_of(target) is None:
        return dagster.AssetDep(key)
    mapping = partitioned.mapping_to(downstream)
    return dagster.AssetDep(
        key, partition_mapping=mapping.dagster_mapping() if mapping is not None else None
    )


def validator_checks(
    pipeline: Pipeline, catalog: CatalogProtocol
) -> list[dagster.AssetChecksDefinition]:
    """The asset check of each persisted dataset with a Kedro validator (Kedro 1.7+
    ``validator:``), named like the checks runs evaluate
    (:data:`~kedro_dagster_runner.workers.validation_checks.CHECK_NAME`).

    Executed from the UI, a check loads the dataset's current data (without the catalog's
    validation funnel) and applies its validator with Kedro's ``validate_dataset``, as declared
    for loads (or for saves, when it is declared for saves only); failures take the declared
    severity.
    """
    from kedro_dagster_runner.workers.validation_checks import CHECK_NAME

    declared = _compat.declared_validators(catalog)
    persisted = {
        strip_transcoding(name): name
        for name in persisted_datasets(pipeline, catalog)
        if name in declared
    }
    if not persisted:
        return []
    datasets = {dagster.AssetKey(asset_key_path(base)): name for base, name in persisted.items()}
    specs = [
        dagster.AssetCheckSpec(
            CHECK_NAME,
            asset=key,
            description=f"Kedro validator {declared[name].class_path} of dataset {name} (on "
            f"{' and '.join(declared[name].modes)})",
        )
        for key, name in datasets.items()
    ]

    @dagster.multi_asset_check(specs=specs, name="kedro_validators", can_subset=True)
    def kedro_validators(context) -> Iterator[dagster.AssetCheckResult]:
        """``context`` stays unannotated: Dagster refuses the string annotations of this
        module (``from __future__ import annotations``)."""
        from kedro.validation import validate_dataset

        for check_key in context.selected_asset_check_keys:
            name = datasets[check_key.asset_key]
            modes = declared[name].modes
            mode = "load" if "load" in modes else "save"  # a save-only validator too
            data = catalog.get(name).load()  # the current data, past the validation funnel
            result = validate_dataset(catalog, name, data, on=mode)
            severity = declared[name].severity
            yield dagster.AssetCheckResult(
                asset_key=check_key.asset_key,
                check_name=CHECK_NAME,
                passed=bool(result),
                severity=dagster.AssetCheckSeverity.WARN
                if severity == "warn"
                else dagster.AssetCheckSeverity.ERROR,
                metadata={
                    "kedro/dataset": name,
                    "kedro/mode": mode,
                    "kedro/validator": str(result.validator),
                    "status": result.status,
                    **({"message": result.message} if result.message else {}),
                },
            )

    return [kedro_validators]
