"""The example project's partitioned pipelines (`fleet`: static keys and a Nothing edge;
`bookings`: daily keys with a time-window offset) under DagsterRunner's `local_pool`
(multiprocess) write byte for byte what Kedro's SequentialRunner writes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from kedro_projects import PIPELINES_OPTION, RUNNER, KedroRunner, persisted_outputs


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
