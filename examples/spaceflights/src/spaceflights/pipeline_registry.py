"""Register the project's pipelines."""

from __future__ import annotations

from kedro.pipeline import Pipeline

from spaceflights.pipelines import bookings, data_processing, data_science, fleet


def register_pipelines() -> dict[str, Pipeline]:
    """Map pipeline names to ``Pipeline`` objects.

    ``__default__`` runs data processing followed by both modelling variants; ``fleet`` and
    ``bookings`` are partitioned pipelines (by engine type, by day) run on their own.
    """
    processing = data_processing.create_pipeline()
    modelling = data_science.create_pipeline()
    return {
        "data_processing": processing,
        "data_science": modelling,
        "__default__": processing + modelling,
        "fleet": fleet.create_pipeline(),
        "bookings": bookings.create_pipeline(),
    }
