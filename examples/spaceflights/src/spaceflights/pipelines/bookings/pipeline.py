"""The bookings pipeline: a daily fan-out (one op per day under DagsterRunner)."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node

from .nodes import booking_changes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [node(booking_changes, "daily_bookings", "booking_changes", name="booking_changes")]
    )
