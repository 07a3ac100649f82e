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


def test_reserved_names_cover_the_ones_dagster_refuses() -> None:
    from kedro_dagster_runner import _compat
    from kedro_dagster_runner.naming import RESERVED_NAMES

    assert set(_compat.DISALLOWED_NAMES) <= RESERVED_NAMES


def test_io_names_avoid_reserved_words_and_never_clash() -> None:
    from kedro_dagster_runner.naming import unique_io_names

    names = unique_io_names(["input", "type", "class", "a.b", "a__b", "input_", "plain", "df@x"])

    assert names["plain"] == "plain"
    assert names["df@x"] == "df_x40_x"
    assert len(set(names.values())) == len(names)
    assert all(DAGSTER_NAME.match(value) for value in names.values())
    assert names["type"] == "type_" and names["class"] == "class_"
    assert names["input"] != names["input_"]  # both escape to input_: hashed apart
    assert names["input"].startswith("input__") and names["input_"].startswith("input__")
    assert unique_io_names(["a.b", "a__b"]) == {"a.b": names["a.b"], "a__b": names["a__b"]}


def test_transcoded_names_share_one_asset_key() -> None:
    from kedro_dagster_runner.naming import asset_key_path, strip_transcoding

    assert strip_transcoding("ns.df@pandas") == "ns.df" == strip_transcoding("ns.df")
    assert asset_key_path("df@pandas") == asset_key_path("df@spark") == ["df"]
