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


# A failure: the run stops, the node's own exception reaches the caller -------------------------


class NodeRefused(Exception):
    """An exception whose ``__init__`` takes other arguments than its ``args`` (pickles, but
    plain unpickling calls ``NodeRefused(message)`` and fails)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _mark(folder: str, name: str) -> None:
    (Path(folder) / name).touch()


def _fail_with(folder: str, error: str, value: int) -> int:
    _mark(folder, "a_fail")
    if error == "KeyError":
        raise KeyError("missing-key")
    if error == "DatasetError":
        from kedro.io import DatasetError

        raise DatasetError("cannot load the thing")
    raise NodeRefused(42, "refused by the node")


def _independent(folder: str, value: int) -> int:
    _mark(folder, "b_independent")
    return value


def _failing_first(folder: Path, error: str) -> Pipeline:
    """``a_fail`` sorts first in Kedro's order; ``b_independent`` does not depend on it."""
    from functools import partial, update_wrapper

    fail = update_wrapper(partial(_fail_with, str(folder), error), _fail_with)
    other = update_wrapper(partial(_independent, str(folder)), _independent)
    return Pipeline(
        [
            node(fail, "seed", "failed_out", name="a_fail"),
            node(other, "seed", "other_out", name="b_independent"),
        ]
    )


ERRORS = {"KeyError": KeyError, "DatasetError": Exception, "NodeRefused": NodeRefused}


@pytest.mark.parametrize("error", ["KeyError", "DatasetError", "NodeRefused"])
@pytest.mark.parametrize(
    "runner",
    [
        "sequential",
        "in_process",
        "dagster_in_process",
        "multiprocess",
    ],
)
def test_a_failure_stops_the_run_and_raises_the_nodes_own_exception(
    tmp_path: Path, runner: str, error: str
) -> None:
    from kedro.io import DatasetError

    expected_type = {"KeyError": KeyError, "DatasetError": DatasetError}.get(error, NodeRefused)
    pipeline = _failing_first(tmp_path, error)
    if runner == "sequential":
        kedro_runner = SequentialRunner()
    else:  # one worker: the multi-process kind has ParallelRunner's order with max_workers=1
        options = {"max_concurrent": 1} if runner == "multiprocess" else {}
        kedro_runner = DagsterRunner(executor=runner, **options)

    with pytest.raises(expected_type) as raised:
        kedro_runner.run(pipeline, DataCatalog({"seed": MemoryDataset(1)}))

    assert type(raised.value) is expected_type
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a_fail"]  # nothing else started
    if error == "NodeRefused":
        assert raised.value.args == ("refused by the node",) and raised.value.code == 42


def test_on_failure_continue_runs_independent_nodes(tmp_path: Path) -> None:
    pipeline = _failing_first(tmp_path, "KeyError")

    with pytest.raises(KeyError):
        DagsterRunner(on_failure="continue").run(pipeline, DataCatalog({"seed": MemoryDataset(1)}))

    assert sorted(path.name for path in tmp_path.iterdir()) == ["a_fail", "b_independent"]


def test_an_exception_with_its_own_init_arguments_is_rebuilt_with_its_type() -> None:
    from kedro_dagster_runner.workers.exceptions import pack, unpack

    rebuilt = unpack(pack(NodeRefused(7, "no")))

    assert type(rebuilt) is NodeRefused and rebuilt.args == ("no",) and rebuilt.code == 7


# From plain Python, without a project: multi-process kinds ship the pipeline as ParallelRunner --


def _add(left: int, right: int) -> int:
    return left + right


def _double(value: int) -> int:
    return value * 2


def _diamond() -> Pipeline:
    return Pipeline(
        [
            node(_double, "seed", "left", name="left"),
            node(_double, "seed", "right", name="right"),
            node(_add, ["left", "right"], "total", name="total"),
        ]
    )


@pytest.mark.parametrize("executor", ["multiprocess", "dagster_multiprocess"])
def test_multi_process_kinds_run_a_pipeline_from_plain_python_like_parallel_runner(
    executor: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kedro.io import SharedMemoryDataCatalog
    from kedro.runner import ParallelRunner

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    parallel = ParallelRunner(max_workers=2)  # its manager holds the outputs while it lives
    expected = parallel.run(_diamond(), SharedMemoryDataCatalog({"seed": MemoryDataset(5)}))
    result = DagsterRunner(executor=executor, max_concurrent=2).run(
        _diamond(), DataCatalog({"seed": MemoryDataset(5)})
    )

    assert result["total"].load() == expected["total"].load() == 20


def test_lambda_nodes_are_refused_with_parallel_runners_message() -> None:
    from kedro.io import SharedMemoryDataCatalog
    from kedro.runner import ParallelRunner

    pipeline = Pipeline([node(lambda value: value, "seed", "out", name="anonymous")])
    with pytest.raises(AttributeError) as kedros:
        ParallelRunner().run(pipeline, SharedMemoryDataCatalog({"seed": MemoryDataset(1)}))
    with pytest.raises(AttributeError) as ours:
        DagsterRunner(executor="multiprocess").run(
            pipeline, DataCatalog({"seed": MemoryDataset(1)})
        )

    assert str(ours.value) == str(kedros.value)
    assert "The following nodes cannot be serialised" in str(ours.value)
