"""A failing node, bad configuration and unpicklable data: exit codes, messages and hook calls."""

from __future__ import annotations

from pathlib import Path

import pytest
from kedro_projects import PIPELINES_OPTION, RUNNER, KedroRunner, needs_runner_params


@pytest.mark.parametrize("env", ["base", "mp"])
def test_failing_node_fails_the_run_with_its_error_and_a_resume_hint(
    kedro_demo: KedroRunner, env: str
) -> None:
    run = kedro_demo("--runner", RUNNER, "--env", env, PIPELINES_OPTION, "failing")

    assert run.returncode != 0
    # The node's own exception ends the run, as under Kedro's runners.
    assert run.output.rstrip().endswith("ValueError: explode refused 8 values")
    assert 'raise ValueError(f"explode refused {len(values)} values")' in run.output  # traceback
    assert '--from-nodes "explode"' in run.output
    (node_error,) = run.calls("on_node_error")
    assert node_error["node"] == "explode" and node_error["error"] == "ValueError"
    (pipeline_error,) = run.calls("on_pipeline_error")
    assert pipeline_error["pid"] == run.driver_pid
    assert "explode refused 8 values" in pipeline_error["message"]
    assert run.calls("after_pipeline_run") == []
    assert run.nodes_run() == ["double_partial", "explode"]
    if env == "mp":
        assert node_error["pid"] != run.driver_pid
        assert f"Node 'explode' raised in process {node_error['pid']}" in run.output


def _write_dagster_yml(project: Path, text: str) -> Path:
    path = project / "conf" / "base" / "dagster.yml"
    path.write_text(text)
    return path


def test_unknown_executor_stops_the_run_before_any_node(
    kedro_demo: KedroRunner, demo_project: Path
) -> None:
    path = _write_dagster_yml(demo_project, "runner:\n  executor: turbo\n")
    run = kedro_demo("--runner", RUNNER)

    assert run.returncode != 0
    assert str(path) in run.output.replace("\n", "")
    assert "runner.executor: 'turbo'" in run.output
    assert "in_process" in run.output and "multiprocess" in run.output  # allowed values
    assert run.calls("before_node_run") == []
    assert not (demo_project / "data" / "out").exists()


def test_invalid_executor_option_names_the_key_path(
    kedro_demo: KedroRunner, demo_project: Path
) -> None:
    _write_dagster_yml(
        demo_project,
        "executors:\n  pool:\n    multiprocess:\n      max_concurrent: 0\n"
        "runner:\n  executor: pool\n",
    )
    run = kedro_demo("--runner", RUNNER)

    assert run.returncode != 0
    assert "executors.pool.multiprocess.max_concurrent" in run.output
    assert run.calls("before_node_run") == []


@needs_runner_params
def test_runner_params_override_the_file_and_are_validated(kedro_demo: KedroRunner) -> None:
    run = kedro_demo(
        "--runner", RUNNER, "--runner-params", "executor=multiprocess,max_concurrent=oops"
    )

    assert run.returncode != 0
    assert "max_concurrent" in run.output and "oops" in run.output
    assert run.calls("before_node_run") == []


def test_unpicklable_node_output_fails_naming_dataset_and_node(kedro_demo: KedroRunner) -> None:
    run = kedro_demo("--runner", RUNNER, "--env", "mp", PIPELINES_OPTION, "unpicklable")

    assert run.returncode != 0
    assert "Node 'make_lock' raised in process" in run.output
    assert "UnpicklableDataError: Dataset 'lock' holds data of type LocalHandle" in run.output
    assert "use_lock" not in run.nodes_run()


def test_unpicklable_pipeline_input_fails_before_any_node(kedro_demo: KedroRunner) -> None:
    run = kedro_demo(
        "--runner", RUNNER, "--env", "mp", PIPELINES_OPTION, "lock_input",
        env={"DEMO_LOCK_INPUT": "1"},
    )  # fmt: skip

    assert run.returncode != 0
    assert "Dataset 'lock_input'" in run.output
    assert "input of nodes ['use_lock_input']" in run.output
    assert run.calls("before_node_run") == []


def test_in_process_runs_need_no_pickling(kedro_demo: KedroRunner) -> None:
    run = kedro_demo("--runner", RUNNER, PIPELINES_OPTION, "unpicklable")

    assert run.returncode == 0, run.output
    assert run.nodes_run() == ["double", "make_lock", "use_lock"]


def test_a_killed_worker_fails_its_node_naming_the_lost_worker(kedro_demo: KedroRunner) -> None:
    run = kedro_demo("--runner", RUNNER, "--env", "mp", PIPELINES_OPTION, "dying")

    assert run.returncode != 0
    assert "WorkerLostError: The worker process running step 'die' died" in (
        run.output.replace("\n", " ")
    )
    assert '--from-nodes "die"' in run.output
    assert run.calls("on_node_error") == []  # the process died before Kedro could report
    (pipeline_error,) = run.calls("on_pipeline_error")
    assert pipeline_error["pid"] == run.driver_pid
