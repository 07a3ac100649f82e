"""Concurrency pools from dagster.yml (`pools`): the node's op gets Dagster's `pool`; the
package's executor asks the instance for a slot (enforcement: integration/test_pools.py)."""

from __future__ import annotations

import pytest

from kedro_dagster_runner.config import resolve_config
from kedro_dagster_runner.config.pools import pool_for
from kedro_dagster_runner.errors import ConfigError
from kedro_dagster_runner.job import build_job
from kedro_dagster_runner.spec import NodeSpec, RunSpec


def test_a_node_takes_the_first_pool_that_selects_it() -> None:
    pools = resolve_config(
        {"pools": {"warehouse": {"tags": ["dwh"]}, "api": {"nodes": ["fetch"], "tags": ["dwh"]}}}
    ).pools
    assert pool_for("load", ["dwh"], pools) == "warehouse"
    assert pool_for("fetch", [], pools) == "api"
    assert pool_for("train", ["gpu"], pools) is None


def test_a_pool_entry_with_an_unknown_key_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"pools\.warehouse\.limit"):
        resolve_config({"pools": {"warehouse": {"limit": 2}}})


def test_the_op_is_in_its_pool() -> None:
    spec = RunSpec("run", "job", [NodeSpec("n", "n", [], ["x"], pool="warehouse")], "in_process")
    (op,) = build_job(spec.to_json()).graph.node_defs
    assert op.pool == "warehouse"
    assert spec.uses_pools
