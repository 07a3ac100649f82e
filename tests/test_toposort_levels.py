"""The linear-time topological sort gives exactly what the ``toposort`` package gives."""

from __future__ import annotations

import random

import pytest
import toposort

from kedro_dagster_runner.toposort_levels import linear_toposort, toposort_levels


def _outcome(sort, data: dict[int, set[int]]) -> tuple[str, object]:
    try:
        return "levels", list(sort(data))
    except toposort.CircularDependencyError as error:
        return "cycle", error.data


@pytest.mark.parametrize("seed", range(300))
def test_same_levels_and_same_cycle_errors_as_the_toposort_package(seed: int) -> None:
    rng = random.Random(seed)
    size = rng.randint(0, 30)
    data = {
        item: {
            other
            for other in range(size + 3)  # a few dependencies that are not keys
            if other != item and rng.random() < (0.15 if other < item else 0.02)
        }
        for item in range(size)
    }

    assert _outcome(toposort_levels, data) == _outcome(toposort.toposort, data)


def test_the_package_function_is_swapped_only_inside_the_block() -> None:
    original = toposort.toposort
    with linear_toposort():
        assert toposort.toposort is toposort_levels
        chain = {item: {item - 1} for item in range(1, 3000)}
        assert [len(level) for level in toposort.toposort(chain)] == [1] * 3000
    assert toposort.toposort is original
