"""Kedro datasets as Dagster assets: keys, and the cheap metadata a run records about them.

Every persisted dataset a node writes becomes an ``AssetMaterialization`` (and every persisted
dataset it reads an ``AssetObservation``) keyed by the dataset name, dots becoming ``__``. The
metadata is what costs nothing to know: dataset type, file path, version, and rows/columns for
tabular data (taken from the data as it is saved, through the package's dataset-saved hook).
"""

from __future__ import annotations

from typing import Any

from kedro_dagster_runner.naming import dagster_name

_SAVED_SHAPES: dict[str, dict[str, int]] = {}


def asset_key_path(dataset_name: str) -> list[str]:
    """The asset key (as a path) of a Kedro dataset."""
    return [dagster_name(dataset_name)]


def remember_saved_shape(dataset_name: str, data: Any) -> None:
    """Keep rows/columns of tabular data a node just saved (called from a Kedro hook)."""
    shape = getattr(data, "shape", None)
    if isinstance(shape, tuple) and len(shape) == 2 and hasattr(data, "columns"):
        _SAVED_SHAPES[dataset_name] = {"rows": int(shape[0]), "columns": int(shape[1])}


def dataset_metadata(catalog: Any, dataset_name: str, saved: bool) -> dict[str, Any]:
    """JSON-able metadata of a dataset of the worker's catalog (after the node ran)."""
    dataset = catalog.get(dataset_name)
    metadata: dict[str, Any] = {
        "kedro/dataset": dataset_name,
        "dataset_type": f"{type(dataset).__module__}.{type(dataset).__qualname__}",
    }
    filepath = getattr(dataset, "_filepath", None)
    if filepath is not None:
        metadata["filepath"] = str(filepath)
    version = getattr(dataset, "_version", None)
    if version is not None:
        chosen = version.save if saved else version.load
        if chosen:
            metadata["version"] = str(chosen)
            versioned_path = getattr(dataset, "_get_versioned_path", None)
            if versioned_path is not None:
                metadata["filepath"] = str(versioned_path(str(chosen)))
    if saved:
        metadata.update(_SAVED_SHAPES.pop(dataset_name, {}))
    return metadata


def node_asset_metadata(
    catalog: Any, inputs: list[str], outputs: list[str], persisted: set[str]
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """(materialized, observed): metadata of the persisted outputs and inputs of one node."""
    materialized = {
        name: dataset_metadata(catalog, name, True) for name in outputs if name in persisted
    }
    observed = {
        name: dataset_metadata(catalog, name, False) for name in inputs if name in persisted
    }
    return materialized, observed
