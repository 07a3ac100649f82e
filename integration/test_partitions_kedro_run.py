"""`kedro run` of partitioned pipelines: the example project's (`fleet`: static keys and a Nothing
edge; `bookings`: daily keys with a time-window offset) under DagsterRunner's `local_pool`
(multiprocess) write byte for byte what Kedro's SequentialRunner writes; the test project's run
some keys with `partitions=` and fail on a broken partition with the node's own error."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from kedro_projects import (
    PIPELINES_OPTION,
    RUNNER,
    KedroRunner,
    needs_runner_params,
    persisted_outputs,
)


@pytest.mark.parametrize(
    ("pipeline", "ops"),
    [
        ("fleet", {"summarise_engines": 3, "split_by_engine": 1, "fleet_report": 1,
                   "publish_fleet_report": 1}),
        ("bookings", {"booking_changes": 7}),
    ],
)  # fmt: skip
def test_a_partitioned_pipeline_of_the_example_writes_what_sequential_runner_writes(
    example: tuple[Path, KedroRunner], pipeline: str, ops: dict[str, int]
) -> None:
    example_project, kedro_example = example
    sequential = kedro_example(PIPELINES_OPTION, pipeline)
    assert sequential.returncode == 0, sequential.output
    expected = persisted_outputs(example_project)
    assert expected, "the pipeline wrote nothing"
    for folder in ("02_intermediate", "08_reporting"):
        for child in (example_project / "data" / folder).iterdir():
            if child.name != ".gitkeep":
                shutil.rmtree(child) if child.is_dir() else child.unlink()

    ours = kedro_example(
        "--runner", RUNNER, PIPELINES_OPTION, pipeline, "--runner-params", "executor=local_pool"
    )

    assert ours.returncode == 0, ours.output
    assert persisted_outputs(example_project) == expected
    assert f"Completed {sum(ops.values())} out of {sum(ops.values())} tasks" in " ".join(
        ours.output.split()
    )


def _outputs(project: Path) -> dict[str, bytes]:
    out = project / "data" / "out"
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@needs_runner_params
def test_partitions_runs_the_selected_keys_only_and_refuses_unknown_ones(
    demo: tuple[Path, KedroRunner],
) -> None:
    demo_project, kedro_demo = demo
    run = kedro_demo("--runner", RUNNER, PIPELINES_OPTION, "daily",
                     "--runner-params", "partitions=2024-01-02...2024-01-03")  # fmt: skip
    assert run.returncode == 0, run.output
    assert sorted(_outputs(demo_project)) == ["daily_delta/2024-01-02.json",
                                              "daily_delta/2024-01-03.json"]  # fmt: skip
    assert _outputs(demo_project)["daily_delta/2024-01-03.json"].strip() == b"12"

    refused = kedro_demo("--runner", RUNNER, PIPELINES_OPTION, "daily",
                         "--runner-params", "partitions=2023-12-31")  # fmt: skip
    assert refused.returncode != 0
    assert "PartitionError: partitions=2023-12-31: ['2023-12-31'] not among" in refused.output
    assert refused.calls("before_node_run") == []


def test_a_failing_partition_fails_the_run_with_the_nodes_own_error(
    demo: tuple[Path, KedroRunner],
) -> None:
    demo_project, kedro_demo = demo
    (demo_project / "data" / "readings" / "south.json").write_text("[10, 20,")  # broken
    sequential = kedro_demo(PIPELINES_OPTION, "partitioned")
    ours = kedro_demo("--runner", RUNNER, PIPELINES_OPTION, "partitioned")

    assert sequential.returncode != 0 and ours.returncode != 0
    for run in (sequential, ours):
        assert "DatasetError: Failed while loading data from dataset" in run.output
    (error,) = [call for call in ours.calls("on_node_error")]
    assert error["node"] == "scale_partitions"
    assert ours.calls("after_pipeline_run") == []
    assert len(ours.calls("on_pipeline_error")) == 1
    # stop at the first failure, as Kedro: nothing downstream of the failed partition started
    assert "combine" not in ours.nodes_run() and "announce" not in ours.nodes_run()
