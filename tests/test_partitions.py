"""Partitioned and Nothing datasets: the catalog types, the fan-out plan, the job's per-partition
edges, and `kedro run` fanning out against Kedro's SequentialRunner on the same project."""

from __future__ import annotations

from pathlib import Path

import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.io.core import DatasetError
from kedro.pipeline import Pipeline, node
from kedro_datasets.partitions import PartitionedDataset
from kedro_projects import PIPELINES_OPTION, RUNNER, KedroRunner

from kedro_dagster_runner.datasets import (
    DagsterNothingDataset,
    DagsterPartitionedDataset,
    PartitionSlice,
)
from kedro_dagster_runner.errors import PartitionError
from kedro_dagster_runner.partitions.fanout import node_specs, parse_selection, plan_fan_out
from kedro_dagster_runner.partitions.scope import scoped_node

STATIC = {"type": "dagster.StaticPartitionsDefinition", "partition_keys": ["a", "b", "c"]}
DAILY = {
    "type": "dagster.DailyPartitionsDefinition",
    "start_date": "2024-01-01",
    "end_date": "2024-01-05",
}


def _partitioned(path: Path, partition: dict, **kwargs: object) -> DagsterPartitionedDataset:
    return DagsterPartitionedDataset(
        path=str(path),
        dataset="json.JSONDataset",
        filename_suffix=".json",
        partition=partition,
        **kwargs,
    )


def _identity(parts: dict) -> dict:
    return {key: load() for key, load in parts.items()}


def _first(parts: dict) -> int:
    return len(parts)


# The dataset ---------------------------------------------------------------------------------


def test_plain_dicts_load_and_save_as_kedros_partitioned_dataset(tmp_path: Path) -> None:
    ours = _partitioned(tmp_path / "ours", STATIC)
    kedros = PartitionedDataset(
        path=str(tmp_path / "kedro"), dataset="json.JSONDataset", filename_suffix=".json"
    )
    data = {"a": [1], "b": {"x": 2}, "z": 3}  # a key outside the definition, as Kedro allows
    ours.save(data)
    kedros.save(data)
    for key in data:
        assert (tmp_path / "ours" / f"{key}.json").read_bytes() == (
            tmp_path / "kedro" / f"{key}.json"
        ).read_bytes()
    assert {k: f() for k, f in ours.load().items()} == {k: f() for k, f in kedros.load().items()}
    assert ours.partition_keys() == ["a", "b", "c"]
    assert ours.stored_keys() == ["a", "b", "z"]


def test_a_slice_writes_its_own_keys_only_and_removes_nothing(tmp_path: Path) -> None:
    dataset = _partitioned(tmp_path, STATIC, overwrite=True)
    dataset.save({"a": 1})
    dataset.save(PartitionSlice({"b": 2}, ["b"], "node_b"))
    assert dataset.stored_keys() == ["a", "b"]  # overwrite does not remove other ops' keys
    with pytest.raises(DatasetError, match=r"Node 'node_b' runs for partition.*returned.*'c'"):
        dataset.save(PartitionSlice({"b": 2, "c": 3}, ["b"], "node_b"))


@pytest.mark.parametrize(
    ("partition", "message"),
    [
        ({"type": "dagster.MultiPartitionsDefinition"}, "not supported; use one of"),
        ({"type": "StaticPartitionsDefinition"}, "needs partition_keys"),
        ({"partition_keys": ["a"]}, "with a 'type' key"),
    ],
)
def test_a_bad_partition_entry_is_refused_when_the_dataset_is_made(
    tmp_path: Path, partition: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        _partitioned(tmp_path, partition)


def test_a_mapping_is_found_by_name_or_by_catalog_pattern(tmp_path: Path) -> None:
    dataset = _partitioned(
        tmp_path,
        STATIC,
        partition_mapping={
            "exact": "dagster.AllPartitionMapping",
            "{region}_scores": {"type": "IdentityPartitionMapping"},
        },
    )
    assert dataset.mapping_to("exact").kind == "AllPartitionMapping"
    assert dataset.mapping_to("north_scores").kind == "IdentityPartitionMapping"
    assert dataset.mapping_to("other") is None


def test_the_nothing_dataset_discards_what_it_is_given() -> None:
    dataset = DagsterNothingDataset()
    dataset.save({"anything": 1})
    assert dataset.load() is None
    assert dataset.exists()


# The fan-out plan ----------------------------------------------------------------------------


def _catalog(tmp_path: Path, **datasets: object) -> DataCatalog:
    return DataCatalog(datasets=datasets)


def test_a_map_over_partitions_fans_out_and_a_split_or_an_aggregate_does_not(
    tmp_path: Path,
) -> None:
    raw = _partitioned(tmp_path / "raw", STATIC)
    raw.save({"a": 1, "b": 2, "c": 3})
    catalog = _catalog(
        tmp_path,
        raw=raw,
        mapped=_partitioned(tmp_path / "mapped", STATIC),
        again=_partitioned(tmp_path / "again", STATIC),
        split=_partitioned(tmp_path / "split", STATIC),
    )
    pipeline = Pipeline(
        [
            node(_identity, "raw", "mapped", name="map"),
            node(_identity, "mapped", "again", name="map_again"),
            node(_first, "mapped", "count", name="aggregate"),
            node(lambda count: {"a": count}, "count", "split", name="split"),
        ]
    )
    fan_out = plan_fan_out(pipeline, catalog)
    assert sorted(fan_out.steps) == ["map", "map_again"]
    assert [(step.key, step.reads) for step in fan_out.steps["map_again"]] == [
        ("a", {"mapped": ["a"]}),
        ("b", {"mapped": ["b"]}),
        ("c", {"mapped": ["c"]}),
    ]
    specs = {spec.op_name: spec for spec in node_specs(pipeline, fan_out, catalog)}
    assert set(specs) == {"map__a", "map__b", "map__c", "map_again__a", "map_again__b",
                          "map_again__c", "aggregate", "split"}  # fmt: skip
    from kedro_dagster_runner.spec import RunSpec

    spec = RunSpec("run", "job", list(specs.values()), "in_process")
    upstream = {op: sorted(w.op_name for _, w, _ in spec.upstream(s)) for op, s in specs.items()}
    assert upstream["map_again__b"] == ["map__b"]  # one partition waits for its own only
    assert upstream["aggregate"] == ["map__a", "map__b", "map__c"]


def test_time_window_offsets_and_static_maps_choose_what_each_partition_reads(
    tmp_path: Path,
) -> None:
    days = _partitioned(
        tmp_path / "days",
        DAILY,
        partition_mapping={"deltas": {"type": "TimeWindowPartitionMapping", "start_offset": -1}},
    )
    regions = _partitioned(
        tmp_path / "regions",
        STATIC,
        partition_mapping={
            "zones": {
                "type": "dagster.StaticPartitionMapping",
                "downstream_partition_keys_by_upstream_partition_key": {
                    "a": "x",
                    "b": "x",
                    "c": "y",
                },
            }
        },
    )
    zones = {"type": "StaticPartitionsDefinition", "partition_keys": ["x", "y"]}
    catalog = _catalog(
        tmp_path,
        days=days,
        deltas=_partitioned(tmp_path / "deltas", DAILY),
        regions=regions,
        zones=_partitioned(tmp_path / "zones", zones),
    )
    pipeline = Pipeline(
        [
            node(_identity, "days", "deltas", name="delta"),
            node(_identity, "regions", "zones", name="zone"),
        ]
    )
    fan_out = plan_fan_out(pipeline, catalog)
    assert {step.key: step.reads["days"] for step in fan_out.steps["delta"]} == {
        "2024-01-01": ["2024-01-01"],
        "2024-01-02": ["2024-01-01", "2024-01-02"],
        "2024-01-03": ["2024-01-02", "2024-01-03"],
        "2024-01-04": ["2024-01-03", "2024-01-04"],
    }
    assert {step.key: step.reads["regions"] for step in fan_out.steps["zone"]} == {
        "x": ["a", "b"],
        "y": ["c"],
    }
    days_only = Pipeline([node(_identity, "days", "deltas", name="delta")])
    ranged = plan_fan_out(days_only, catalog, parse_selection("2024-01-02...2024-01-03"))
    assert [step.key for step in ranged.steps["delta"]] == ["2024-01-02", "2024-01-03"]


def test_dynamic_partitions_are_those_stored_and_follow_their_input(tmp_path: Path) -> None:
    dynamic = {"type": "dagster.DynamicPartitionsDefinition", "name": "files"}
    source = _partitioned(tmp_path / "source", dynamic)
    source.save({"f1": 1, "f2": 2})
    catalog = _catalog(tmp_path, source=source, target=_partitioned(tmp_path / "target", dynamic))
    fan_out = plan_fan_out(Pipeline([node(_identity, "source", "target", name="copy")]), catalog)
    assert [step.key for step in fan_out.steps["copy"]] == ["f1", "f2"]


def test_dynamic_keys_written_in_the_run_leave_their_readers_whole(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A split writing dynamic partitions decides their keys as it runs: the nodes reading them
    cannot be planned per key, so they run once over all partitions, as under Kedro."""
    dynamic = {"type": "dagster.DynamicPartitionsDefinition"}
    catalog = _catalog(
        tmp_path,
        found=_partitioned(tmp_path / "found", dynamic),
        copied=_partitioned(tmp_path / "copied", dynamic),
    )
    pipeline = Pipeline(
        [
            node(lambda: {"new": 1}, None, "found", name="discover"),
            node(_identity, "found", "copied", name="copy"),
        ]
    )
    with caplog.at_level("INFO", logger="kedro_dagster_runner"):
        assert plan_fan_out(pipeline, catalog).steps == {}
    assert "Node 'copy' runs once over all partitions" in caplog.text


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        ("a,zz", r"partitions=a,zz: \['zz'\] not among the partitions of dataset 'mapped'"),
        ("a...zz", r"\['zz'\] not among the partitions"),
    ],
)
def test_a_selection_outside_the_partitions_is_refused_naming_the_dataset(
    tmp_path: Path, selection: str, message: str
) -> None:
    catalog = _catalog(
        tmp_path,
        raw=_partitioned(tmp_path / "raw", STATIC),
        mapped=_partitioned(tmp_path / "mapped", STATIC),
    )
    pipeline = Pipeline([node(_identity, "raw", "mapped", name="map")])
    with pytest.raises(PartitionError, match=message):
        plan_fan_out(pipeline, catalog, parse_selection(selection))


def test_arguments_dagster_refuses_are_reported_naming_the_dataset(tmp_path: Path) -> None:
    bad_start = {"type": "DailyPartitionsDefinition", "start_date": "the first of May"}
    catalog = _catalog(
        tmp_path,
        raw=_partitioned(tmp_path / "raw", bad_start),
        mapped=_partitioned(tmp_path / "mapped", bad_start),
    )
    pipeline = Pipeline([node(_identity, "raw", "mapped", name="map")])
    with pytest.raises(PartitionError, match=r"Dataset 'mapped' \(catalog\): partition: Daily"):
        plan_fan_out(pipeline, catalog)


def test_a_fanned_out_node_writing_an_unpartitioned_dataset_is_refused(tmp_path: Path) -> None:
    catalog = _catalog(
        tmp_path,
        raw=_partitioned(tmp_path / "raw", STATIC),
        mapped=_partitioned(tmp_path / "mapped", STATIC),
        order=DagsterNothingDataset(),
        side=MemoryDataset(),
    )
    ordering_only = Pipeline([node(lambda p: (p, True), "raw", ["mapped", "order"], name="ok")])
    assert "ok" in plan_fan_out(ordering_only, catalog).steps
    pipeline = Pipeline([node(lambda p: (p, 1), "raw", ["mapped", "side"], name="bad")])
    with pytest.raises(PartitionError, match=r"Node 'bad' fans out .* also writes 'side'"):
        plan_fan_out(pipeline, catalog)


def test_a_scoped_node_sees_its_partitions_and_keeps_its_own_key(tmp_path: Path) -> None:
    catalog = _catalog(
        tmp_path,
        raw=_partitioned(tmp_path / "raw", STATIC),
        mapped=_partitioned(tmp_path / "mapped", STATIC),
    )
    pipeline = Pipeline([node(_identity, "raw", "mapped", name="map")])
    (spec_b,) = [s for s in node_specs(pipeline, plan_fan_out(pipeline, catalog), catalog)
                 if s.partition_key == "b"]  # fmt: skip
    scoped = scoped_node(pipeline.nodes[0], spec_b, spec_b.partitioned_outputs)
    assert scoped.name == "map"
    outputs = scoped.run({"raw": {"a": lambda: 1, "b": lambda: 2}})
    assert outputs["mapped"] == {"b": 2}
    assert isinstance(outputs["mapped"], PartitionSlice)
    with pytest.raises(DatasetError, match="reads partition\\(s\\) \\['b'\\] of dataset 'raw'"):
        scoped.run({"raw": {"a": lambda: 1}})


# kedro run ------------------------------------------------------------------------------------


def _outputs(project: Path) -> dict[str, bytes]:
    out = project / "data" / "out"
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("executor", ["in_process", "multiprocess"])
def test_a_fan_out_writes_what_sequential_runner_writes(
    kedro_demo: KedroRunner, demo_project: Path, executor: str
) -> None:
    import shutil

    sequential = kedro_demo(PIPELINES_OPTION, "partitioned")
    assert sequential.returncode == 0, sequential.output
    expected = _outputs(demo_project)
    shutil.rmtree(demo_project / "data" / "out")
    (demo_project / "conf" / "base" / "dagster.yml").write_text(
        f"runner:\n  executor: {executor}\n"
    )
    ours = kedro_demo("--runner", RUNNER, PIPELINES_OPTION, "partitioned")
    assert ours.returncode == 0, ours.output
    assert _outputs(demo_project) == expected
    assert sorted(expected) == [
        "combined.json",
        *(f"{stage}_readings/{key}.json" for stage in ("scaled", "shifted")
          for key in ("east", "north", "south")),
    ]  # fmt: skip
    # node hooks fire per op: once per partition for the fanned-out nodes
    assert ours.nodes_run() == sorted(
        ["announce", "combine", *["scale_partitions"] * 3, *["shift_partitions"] * 3]
    )
    assert len(ours.calls("before_pipeline_run")) == 1


def test_runs_without_partitioned_datasets_do_not_import_them() -> None:
    """A project without kedro-datasets' PartitionedDataset still plans (and pays nothing)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from kedro.io import DataCatalog, MemoryDataset\n"
        "from kedro.pipeline import Pipeline, node\n"
        "from kedro_dagster_runner.partitions.fanout import plan_fan_out\n"
        "pipeline = Pipeline([node(len, 'a', 'b', name='n')])\n"
        "assert plan_fan_out(pipeline, DataCatalog({'a': MemoryDataset([1])})).steps == {}\n"
        "import kedro_dagster_runner.ui.assets, kedro_dagster_runner.workers.step\n"
        "assert 'kedro_datasets.partitions' not in sys.modules, 'imported'\n"
        "assert 'kedro_dagster_runner.datasets.partitioned' not in sys.modules, 'imported'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
