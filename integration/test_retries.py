"""Retry policies in `kedro run`: on Dagster's stock in-process executor (a node retried until
it succeeds), and a node whose last attempt fails the run with its own error. (The package's own
executors are in tests/test_retries.py; the distributed ones in test_distributed.py.)"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from kedro_projects import PIPELINES_OPTION, RUNNER, KedroRunner, with_retry_policy


def test_dagsters_in_process_executor_retries_the_flaky_node(
    demo: tuple[Path, KedroRunner],
) -> None:
    demo_project, kedro_demo = demo
    with_retry_policy(demo_project, 2, "dagster_in_process")

    run = kedro_demo("--runner", RUNNER, PIPELINES_OPTION, "retried")

    assert run.returncode == 0, run.output
    assert (demo_project / "data" / "out" / "fail_twice.count").read_text() == "3"
    assert "(retry 2 of 2)" in " ".join(run.output.split())
    assert Counter(c["node"] for c in run.calls("on_node_error")) == {"fail_twice": 2}


def test_the_last_failed_attempt_fails_the_run_with_the_nodes_error(
    demo: tuple[Path, KedroRunner],
) -> None:
    demo_project, kedro_demo = demo
    with_retry_policy(demo_project, 1, "in_process")

    run = kedro_demo("--runner", RUNNER, PIPELINES_OPTION, "retried")

    assert run.returncode != 0
    assert (demo_project / "data" / "out" / "fail_twice.count").read_text() == "2"
    assert run.output.rstrip().endswith("ConnectionError: flaky service unavailable (attempt 2)")
    (error,) = run.calls("on_pipeline_error")
    assert error["error"] == "ConnectionError"
    assert "recovered_total" not in {c["node"] for c in run.calls("before_node_run")}
