"""Kedro names <-> Dagster names."""

from __future__ import annotations

import re

import pytest

from kedro_dagster_runner.naming import dagster_name, kedro_name, unique_op_names

DAGSTER_NAME = re.compile(r"^[A-Za-z0-9_]+$")


@pytest.mark.parametrize(
    "name",
    [
        "preprocess_companies_node",
        "active_modelling_pipeline.split_data_node",
        "a.b.c",
        "double([numbers;params:factor]) -> [doubled]",
        "naïve-node",
    ],
)
def test_names_are_valid_for_dagster_and_reversible(name: str) -> None:
    converted = dagster_name(name)
    assert DAGSTER_NAME.match(converted)
    assert kedro_name(converted) == name


def test_dots_become_double_underscores() -> None:
    assert dagster_name("ns.inner.node") == "ns__inner__node"


def test_clashing_names_get_distinct_stable_op_names() -> None:
    names = unique_op_names(["a.b", "a__b", "c"])
    assert names["c"] == "c"
    assert names["a.b"] != names["a__b"]
    assert names["a.b"].startswith("a__b_")
    assert unique_op_names(["a.b", "a__b", "c"]) == names
