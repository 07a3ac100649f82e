"""Kedro idioms that must behave under DagsterRunner as under SequentialRunner.

Transcoded datasets order nodes; dataset names Dagster reserves, or that escape to the same
Dagster name, run and keep their edges. (The differential suite of issue 10 extends this file.)
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline, node
from kedro.runner import SequentialRunner
from kedro_datasets.pandas import CSVDataset

from kedro_dagster_runner import DagsterRunner
from kedro_dagster_runner.job import build_job
from kedro_dagster_runner.spec import NodeSpec, RunSpec

ORDER: list[str] = []


def _write(frame: pd.DataFrame) -> pd.DataFrame:
    ORDER.append("z_write")
    return frame.assign(doubled=frame["x"] * 2)


def _read(frame: pd.DataFrame) -> int:
    ORDER.append("a_read")
    return int(frame["doubled"].sum())


def _transcoded(tmp_path: Path) -> tuple[Pipeline, DataCatalog]:
    """``z_write`` writes ``table@pandas``, ``a_read`` reads ``table@other``: two catalog entries
    of one file, as Kedro's transcoding docs pair ``@pandas`` and ``@spark``."""
    path = str(tmp_path / "table.csv")
    catalog = DataCatalog(
        {
            "raw": MemoryDataset(pd.DataFrame({"x": [1, 2, 3]})),
            "table@pandas": CSVDataset(filepath=path),
            "table@other": CSVDataset(filepath=path),
        }
    )
    pipeline = Pipeline(
        [
            # the reader sorts first by name: only the dataset edge can order it after the writer
            node(_read, "table@other", "total", name="a_read"),
            node(_write, "raw", "table@pandas", name="z_write"),
        ]
    )
    return pipeline, catalog


@pytest.mark.parametrize("executor", ["in_process", "dagster_in_process"])
def test_a_transcoded_dataset_orders_its_reader_after_its_writer(
    tmp_path: Path, executor: str
) -> None:
    pipeline, catalog = _transcoded(tmp_path)
    ORDER.clear()
    expected = SequentialRunner().run(pipeline, catalog)["total"].load()
    assert ORDER == ["z_write", "a_read"]
    (tmp_path / "table.csv").unlink()

    pipeline, catalog = _transcoded(tmp_path)
    ORDER.clear()
    result = DagsterRunner(executor=executor).run(pipeline, catalog)

    assert ORDER == ["z_write", "a_read"]
    assert result["total"].load() == expected == 12


def test_the_job_has_the_transcoded_edge() -> None:
    spec = RunSpec(
        run_id="2026-01-01T00.00.00.000Z",
        job_name="kedro_default",
        nodes=[
            NodeSpec("write", "write", ["raw"], ["df@pandas"]),
            NodeSpec("read", "read", ["df@spark"], ["out"]),
        ],
        executor_kind="in_process",
    )
    job = build_job(spec.to_json())

    upstream = job.graph.dependency_structure.all_upstream_outputs_from_node("read")
    assert [(output.node_name, output.output_name) for output in upstream] == [
        ("write", "df_x40_pandas")
    ]


RESERVED = ["input", "output", "type", "config", "context", "dict", "str", "class", "lambda"]


def _chain_through(names: list[str]) -> Pipeline:
    nodes = [node(lambda value: value + 1, "seed", names[0], name="first")]
    for index, (source, target) in enumerate(itertools.pairwise(names)):
        nodes.append(node(lambda value: value + 1, source, target, name=f"step_{index}"))
    return Pipeline(nodes)


@pytest.mark.parametrize("executor", ["in_process", "dagster_in_process"])
def test_dataset_names_dagster_reserves_run_like_under_sequential_runner(executor: str) -> None:
    names = [*RESERVED, "a.b", "a__b", "last"]  # a.b and a__b escape to the same Dagster name
    pipeline = _chain_through(names)

    expected = SequentialRunner().run(pipeline, DataCatalog({"seed": MemoryDataset(0)}))
    result = DagsterRunner(executor=executor).run(pipeline, DataCatalog({"seed": MemoryDataset(0)}))

    assert result["last"].load() == expected["last"].load() == len(names)


def test_clashing_escaped_names_keep_both_edges() -> None:
    spec = RunSpec(
        run_id="2026-01-01T00.00.00.000Z",
        job_name="kedro_default",
        nodes=[
            NodeSpec("w1", "w1", [], ["a.b"]),
            NodeSpec("w2", "w2", [], ["a__b"]),
            NodeSpec("r", "r", ["a.b", "a__b", "input"], []),
            NodeSpec("w3", "w3", [], ["input"]),
        ],
        executor_kind="in_process",
    )
    job = build_job(spec.to_json())

    upstream = job.graph.dependency_structure.all_upstream_outputs_from_node("r")
    assert sorted(output.node_name for output in upstream) == ["w1", "w2", "w3"]


def test_the_code_location_shows_a_transcoded_dataset_as_one_asset(tmp_path: Path) -> None:
    from kedro_dagster_runner.ui.assets import asset_specs

    pipeline, catalog = _transcoded(tmp_path)
    catalog["total"] = CSVDataset(filepath=str(tmp_path / "total.csv"))
    catalog["raw"] = CSVDataset(filepath=str(tmp_path / "raw.csv"))

    specs = {spec.key.to_user_string(): spec for spec in asset_specs(pipeline, catalog)}

    assert set(specs) == {"raw", "table", "total"}
    assert [dep.asset_key.to_user_string() for dep in specs["table"].deps] == ["raw"]
    assert [dep.asset_key.to_user_string() for dep in specs["total"].deps] == ["table"]
    assert specs["table"].metadata["kedro/transcoded_as"] == "table@other, table@pandas"


def test_kedros_max_workers_name_is_accepted() -> None:
    from kedro_dagster_runner.config import resolve_config

    for kind in ("multiprocess", "dagster_multiprocess", "dask"):
        resolved = resolve_config({"runner": {"executor": kind}}, {"max_workers": 3})
        assert resolved.executor.options["max_concurrent"] == 3, kind


def _fan_out(width: int) -> RunSpec:
    nodes = [NodeSpec("source", "source", [], ["seed"])]
    nodes += [NodeSpec(f"n{i}", f"n{i}", ["seed"], [f"out{i}"]) for i in range(width)]
    return RunSpec("r", "kedro_default", nodes, "multiprocess", handoff_uri="/tmp/unused")


def test_the_pool_has_no_more_workers_than_nodes_can_run_at_once() -> None:
    from kedro_dagster_runner.executors.multiprocess import MultiprocessOptions, PoolLauncher

    three_wide = _fan_out(3)
    assert three_wide.parallel_width() == 3  # as ParallelRunner counts: 4 nodes, 2 layers
    assert PoolLauncher(three_wide, MultiprocessOptions(max_concurrent=6)).max_concurrent == 3
    assert PoolLauncher(_fan_out(8), MultiprocessOptions(max_concurrent=6)).max_concurrent == 6
    chain = RunSpec(
        "r",
        "kedro_default",
        [NodeSpec("a", "a", [], ["x@csv"]), NodeSpec("b", "b", ["x@pandas"], ["y"])],
        "multiprocess",
    )
    assert chain.parallel_width() == 1
