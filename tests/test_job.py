"""The job factory builds one op per node with Kedro's dataset edges, from the JSON spec alone."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from kedro_dagster_runner.job import build_job, reconstructable_job
from kedro_dagster_runner.spec import NodeSpec, ProjectSpec, RunSpec
from kedro_dagster_runner.workers.store import DirectoryStore


def _spec() -> RunSpec:
    return RunSpec(
        run_id="2026-01-01T00.00.00.000Z",
        job_name="kedro_default",
        nodes=[
            NodeSpec("load", "load", ["raw", "params:x"], ["clean"]),
            NodeSpec("ns.train", "ns__train", ["clean"], ["ns.model"], ["training"]),
            NodeSpec("ns.score", "ns__score", ["clean", "ns.model"], ["ns.score"]),
        ],
        executor_kind="multiprocess",
        project=ProjectSpec("/p", "pkg", "dev", "/p/conf", ["__default__"]),
        tags={"kedro/run_id": "2026-01-01T00.00.00.000Z", "kedro/env": "dev"},
    )


def test_spec_round_trips_through_json() -> None:
    spec = _spec()
    assert RunSpec.from_json(spec.to_json()) == spec


def test_one_op_per_node_with_dataset_edges() -> None:
    job = build_job(_spec().to_json())

    assert {node.name for node in job.graph.nodes} == {"load", "ns__train", "ns__score"}
    score = job.graph.node_named("ns__score")
    assert set(score.definition.input_dict) == {"clean", "ns__model"}
    upstream = {
        (output.node_name, output.output_name)
        for output in job.graph.dependency_structure.all_upstream_outputs_from_node("ns__score")
    }
    assert upstream == {("load", "clean"), ("ns__train", "ns__model")}
    assert job.executor_def.name == "kedro_multiprocess"
    assert job.tags["kedro/env"] == "dev"
    assert job.graph.node_named("ns__train").definition.tags["kedro/node"] == "ns.train"


def test_reconstructable_job_rebuilds_the_same_job(tmp_path: Path) -> None:
    spec = replace(_spec(), handoff_uri=str(tmp_path / "store"))
    DirectoryStore(spec.handoff_uri).write_spec(spec.to_json())
    rebuilt = reconstructable_job(spec).get_definition()
    assert rebuilt.name == "kedro_default"
    assert {node.name for node in rebuilt.graph.nodes} == {"load", "ns__train", "ns__score"}
