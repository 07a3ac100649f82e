"""Nodes of the fleet pipeline: split by engine type, summarise each type, report."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd


def split_by_engine(shuttles: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """One partition per engine type (writes partitions: runs once)."""
    return {
        str(engine): rows.reset_index(drop=True)
        for engine, rows in shuttles.groupby("engine_type", sort=True)
    }


def summarise_engines(
    shuttles_by_engine: dict[str, Callable[[], pd.DataFrame]],
) -> dict[str, dict[str, float | int]]:
    """A summary per engine type (reads and writes partitions: one op per engine type)."""
    summaries = {}
    for engine, load in shuttles_by_engine.items():
        shuttles = load()
        summaries[engine] = {
            "shuttles": len(shuttles),
            "engines": int(shuttles["engines"].sum()),
            "mean_passenger_capacity": round(float(shuttles["passenger_capacity"].mean()), 3),
        }
    return summaries


def fleet_report(
    engine_summaries: dict[str, Callable[[], dict[str, float | int]]],
) -> tuple[pd.DataFrame, bool]:
    """Every engine type's summary in one table (reads partitions: runs once), and the
    ordering-only `fleet_report_ready` edge (any value but None: Kedro does not save None)."""
    rows = [{"engine_type": engine, **load()} for engine, load in sorted(engine_summaries.items())]
    return pd.DataFrame(rows), True


def publish_fleet_report(fleet_report_ready: None) -> str:
    """Runs after `fleet_report` through a Nothing dataset, without reading the report."""
    return "fleet report published\n"
