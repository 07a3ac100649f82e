"""Dataset validators for the tests of asset checks (Kedro 1.7+ catalog ``validator:``)."""

from __future__ import annotations

from typing import Any


def has_count(summary: dict[str, Any]) -> None:
    """A summary has a positive count."""
    if summary.get("count", 0) <= 0:
        raise ValueError(f"summary has no count: {summary}")


def under_ten(values: list[int]) -> None:
    """Every value is below 10 (the demo's doubled numbers are not: 18 and 12)."""
    large = [value for value in values if value >= 10]
    if large:
        raise ValueError(f"values of 10 or more: {large}")
