"""The fleet pipeline: a static-keyed fan-out (one op per engine type under DagsterRunner)."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node

from .nodes import fleet_report, publish_fleet_report, split_by_engine, summarise_engines


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(split_by_engine, "shuttles", "shuttles_by_engine", name="split_by_engine"),
            node(
                summarise_engines,
                "shuttles_by_engine",
                "engine_summaries",
                name="summarise_engines",
            ),
            node(
                fleet_report,
                "engine_summaries",
                ["fleet_report", "fleet_report_ready"],
                name="fleet_report",
            ),
            node(
                publish_fleet_report,
                "fleet_report_ready",
                "fleet_report_published",
                name="publish_fleet_report",
            ),
        ]
    )
