"""Node grouping through `kedro run` (runner.group_nodes on multiprocess): outputs equal to
Kedro's SequentialRunner, a group's nodes in one worker in Kedro's order with its in-memory data
kept there, and a failing node of a group ending the run with its own error. (No service is
needed; these end-to-end runs live here to keep tests/ fast. The same checks run on dask,
Celery and the stock executors in test_distributed.py, and on Docker and the Kubernetes API
emulator in docker/test_project_image.py.)"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import yaml
from kedro_projects import PIPELINES_OPTION, RUNNER, KedroRunner, persisted_outputs


def _configure(project: Path, **runner: str) -> None:
    path = project / "conf" / "base" / "dagster.yml"
    config = yaml.safe_load(path.read_text()) or {}
    config.setdefault("runner", {}).update(runner)
    path.write_text(yaml.safe_dump(config))


def test_grouped_nodes_run_in_one_worker_with_their_memory_data_and_outputs_match_kedro(
    kedro_demo: KedroRunner, demo_project: Path
) -> None:
    expected_run = kedro_demo()  # Kedro's SequentialRunner
    assert expected_run.returncode == 0, expected_run.output
    expected = persisted_outputs(demo_project)
    _configure(demo_project, executor="multiprocess", group_nodes="namespace")

    run = kedro_demo("--runner", RUNNER)

    assert run.returncode == 0, run.output
    assert persisted_outputs(demo_project) == expected
    starts = {call["node"]: call["pid"] for call in run.calls("before_node_run")}
    assert Counter(call["node"] for call in run.calls("before_node_run")) == Counter(
        call["node"] for call in expected_run.calls("before_node_run")
    )
    assert starts["first.shift"] == starts["first.sum"] != run.driver_pid
    assert starts["second.shift"] == starts["second.sum"]
    output = " ".join(run.output.split())
    # the namespace's shifted data stays in the worker's memory, never in the run's store
    assert "Saving data to first.shifted (MemoryDataset)" in output
    assert "Saving data to first.shifted (HandoffDataset)" not in output
    assert "Completed 8 out of 8 tasks" in output


def test_a_failing_node_of_a_group_fails_the_run_with_its_own_error(
    kedro_demo: KedroRunner, demo_project: Path
) -> None:
    _configure(demo_project, executor="multiprocess", group_nodes="memory_chains")

    run = kedro_demo("--runner", RUNNER, PIPELINES_OPTION, "failing")

    assert run.returncode != 0
    assert run.output.rstrip().endswith("ValueError: explode refused 8 values")
    (node_error,) = run.calls("on_node_error")
    assert node_error["node"] == "explode"
    assert run.nodes_run() == ["double_partial", "explode"]  # after_explode never started
    output = " ".join(run.output.split())
    assert "Node 'explode' of group 'chain_explode' raised in process" in output
    assert len(run.calls("on_pipeline_error")) == 1
