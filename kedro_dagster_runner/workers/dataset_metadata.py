"""The cheap metadata a run records about the persisted datasets a node read and wrote.

Every persisted dataset a node writes becomes an ``AssetMaterialization`` (and every persisted
dataset it reads an ``AssetObservation``) of the asset named after the dataset. The metadata is
what costs nothing to know: dataset type, file path, version, and rows/columns for tabular data
(taken from the data as it is saved, through the package's ``after_dataset_saved`` hook).
"""

from __future__ import annotations

from collections.abc import Iterable
from numbers import Integral
from typing import TYPE_CHECKING, Any

from kedro_dagster_runner import _compat

if TYPE_CHECKING:
    from kedro.io import CatalogProtocol

    from kedro_dagster_runner.workers.outcome import DatasetMetadata

_SAVED_SHAPES: dict[str, dict[str, int]] = {}


def remember_saved_shape(dataset_name: str, data: object) -> None:
    """Keep rows/columns of tabular data a node just saved (called from a Kedro hook).

    Only a shape the data already knows is kept: a lazy frame (dask, pyspark.pandas) answers
    ``shape`` with a lazy row count, which is skipped rather than computed.
    """
    if not hasattr(data, "columns"):
        return
    shape = getattr(data, "shape", None)
    if (
        isinstance(shape, tuple)
        and len(shape) == 2
        and all(isinstance(size, Integral) for size in shape)
    ):
        _SAVED_SHAPES[dataset_name] = {"rows": int(shape[0]), "columns": int(shape[1])}


def dataset_metadata(catalog: CatalogProtocol, dataset_name: str, saved: bool) -> dict[str, Any]:
    """JSON-able metadata of a dataset of the worker's catalog (after the node ran)."""
    dataset = catalog.get(dataset_name)
    metadata: dict[str, Any] = {
        "kedro/dataset": dataset_name,
        "dataset_type": f"{type(dataset).__module__}.{type(dataset).__qualname__}",
    }
    filepath = _compat.dataset_filepath(dataset)
    if filepath is not None:
        metadata["filepath"] = filepath
    version = _compat.dataset_version(dataset)
    if version is not None:
        chosen = version.save if saved else version.load
        if chosen:
            metadata["version"] = str(chosen)
            versioned = _compat.dataset_versioned_path(dataset, str(chosen))
            if versioned is not None:
                metadata["filepath"] = versioned
    if saved:
        metadata.update(_SAVED_SHAPES.pop(dataset_name, {}))
    return metadata


def node_asset_metadata(
    catalog: CatalogProtocol,
    inputs: Iterable[str],
    outputs: Iterable[str],
    persisted: set[str],
) -> tuple[DatasetMetadata, DatasetMetadata]:
    """(materialized, observed): metadata of the persisted outputs and inputs of one node."""
    materialized = {
        name: dataset_metadata(catalog, name, True) for name in outputs if name in persisted
    }
    observed = {
        name: dataset_metadata(catalog, name, False) for name in inputs if name in persisted
    }
    for name in outputs:  # shapes of outputs that are not assets are not kept either
        _SAVED_SHAPES.pop(name, None)
    return materialized, observed
