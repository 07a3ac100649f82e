"""Nodes of the bookings pipeline."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd


def booking_changes(
    daily_bookings: dict[str, Callable[[], pd.DataFrame]],
) -> dict[str, dict[str, int]]:
    """Passengers booked per day and the change from the day before (0 for a day whose previous
    day is not given). Under DagsterRunner each day is one op, which reads that day and the one
    before (the dataset's TimeWindowPartitionMapping with start_offset -1)."""
    totals = {day: int(load()["passengers"].sum()) for day, load in sorted(daily_bookings.items())}
    days = list(totals)
    return {
        day: {
            "passengers": totals[day],
            "change": totals[day] - totals[days[index - 1]] if index else 0,
        }
        for index, day in enumerate(days)
    }
