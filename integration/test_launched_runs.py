"""Runs Dagster launches itself (launchpad, re-execution, schedule, sensor) fire Kedro's hooks as
`kedro run` does: the run worker opens the project's session, fires the pipeline hooks once and
the node and dataset hooks per node, declares undeclared in-memory datasets, and reports a
failing node's own error to ``on_pipeline_error``.

Each run goes through ``dagster.execute_job`` on the code location's job (the same executor a
run worker uses), in a child process of its own so that the project's settings stay there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import yaml
from kedro_projects import hook_calls

EXECUTE = """
import json, sys
import dagster
from dagster import DagsterInstance

project, job_name, result_file = sys.argv[1:4]
job = dagster.build_reconstructable_job(
    "kedro_dagster_runner.ui.code_location", "job_named",
    reconstructable_args=(project, None, job_name),
)
with DagsterInstance.local_temp() as instance:
    result = dagster.execute_job(job, instance=instance, raise_on_error=False)
    steps = sorted(
        event.step_key for event in result.all_events if event.event_type_value == "STEP_SUCCESS"
    )
    tags = instance.get_run_by_id(result.run_id).tags
    warnings = [
        entry.user_message for entry in instance.all_logs(result.run_id)
        if entry.level >= 30
    ]
with open(result_file, "w") as stream:
    json.dump(
        {"success": result.success, "steps": steps, "tags": dict(tags), "warnings": warnings},
        stream,
    )
"""

JOBS = """
jobs:
  first_total:
    pipeline: {pipeline_name: __default__, to_outputs: [first.total]}
"""


def _launch(project: Path, job: str, tmp_path: Path) -> tuple[dict, Path]:
    hook_log, result_file = tmp_path / f"{job}.jsonl", tmp_path / f"{job}.json"
    completed = subprocess.run(
        [sys.executable, "-c", EXECUTE, str(project), job, str(result_file)],
        env={**os.environ, "DEMO_HOOK_LOG": str(hook_log)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return json.loads(result_file.read_text()), hook_log


def _per_node(hook_log: Path, hook: str) -> Counter:
    return Counter(call["node"] for call in hook_calls(hook_log, hook))


def test_a_launched_run_fires_the_pipeline_hooks_once_and_node_hooks_per_node(
    demo_project: Path, tmp_path: Path
) -> None:
    (demo_project / "conf" / "base" / "dagster.yml").write_text(JOBS)

    result, hook_log = _launch(demo_project, "first_total", tmp_path)

    assert result["success"]
    assert result["steps"] == ["double", "first__shift", "first__sum"]
    assert result["tags"]["kedro/job"] == "first_total"
    (before,) = hook_calls(hook_log, "before_pipeline_run")
    (after,) = hook_calls(hook_log, "after_pipeline_run")
    assert hook_calls(hook_log, "on_pipeline_error") == []
    assert before["pid"] == after["pid"]
    nodes = {"double": 1, "first.shift": 1, "first.sum": 1}
    assert _per_node(hook_log, "before_node_run") == nodes
    assert _per_node(hook_log, "after_node_run") == nodes
    assert (demo_project / "data" / "out" / "first_total.json").exists()
    assert not (demo_project / "data" / "out" / "second_total.json").exists()


def test_undeclared_in_memory_datasets_pass_between_nodes_of_a_launched_run(
    demo_project: Path, tmp_path: Path
) -> None:
    """`lock` is declared nowhere: Kedro's runners keep it in a MemoryDataset."""
    result, hook_log = _launch(demo_project, "kedro_unpicklable", tmp_path)

    assert result["success"], result
    assert result["steps"] == ["double", "make_lock", "use_lock"]
    assert len(hook_calls(hook_log, "after_pipeline_run")) == 1


def test_a_failing_node_reaches_on_pipeline_error_with_its_own_error_and_stops_the_run(
    demo_project: Path, tmp_path: Path
) -> None:
    result, hook_log = _launch(demo_project, "kedro_failing", tmp_path)

    assert not result["success"]
    assert result["steps"] == ["double_partial"]
    (error,) = hook_calls(hook_log, "on_pipeline_error")
    assert error["error"] == "ValueError"
    assert hook_calls(hook_log, "after_pipeline_run") == []
    assert _per_node(hook_log, "on_node_error") == {"explode": 1}
    assert "after_explode" not in _per_node(hook_log, "before_node_run")


def test_a_launched_run_of_a_job_runs_on_the_jobs_executor(
    demo_project: Path, tmp_path: Path
) -> None:
    """A job whose executor is the pool: the run worker plans the run as kedro run does, its
    nodes run (and fire their hooks) in pool workers, the pipeline hooks in the run worker."""
    (demo_project / "conf" / "base" / "dagster.yml").write_text(
        "executors: {pool: {multiprocess: {max_concurrent: 2}}}\n" + JOBS + "    executor: pool\n"
    )

    result, hook_log = _launch(demo_project, "first_total", tmp_path)

    assert result["success"], result
    assert result["tags"]["kedro/executor"] == "pool"
    (before,) = hook_calls(hook_log, "before_pipeline_run")
    (after,) = hook_calls(hook_log, "after_pipeline_run")
    assert before["pid"] == after["pid"]
    node_pids = {call["pid"] for call in hook_calls(hook_log, "before_node_run")}
    assert before["pid"] not in node_pids  # the nodes ran in the pool's workers
    assert _per_node(hook_log, "after_node_run") == {"double": 1, "first.shift": 1, "first.sum": 1}
    assert (demo_project / "data" / "out" / "first_total.json").exists()


def test_a_jobs_inline_logger_gets_the_event_log_of_its_launched_runs(
    demo_project: Path, tmp_path: Path
) -> None:
    log = tmp_path / "job.log"
    logger = {
        "log_level": "debug",
        "formatters": {"plain": {"format": "%(levelname)s|%(message)s"}},
        "handlers": [{"class": "logging.FileHandler", "filename": str(log), "formatter": "plain"}],
    }
    job = {"pipeline": {"to_outputs": ["first.total"]}, "loggers": [logger]}
    (demo_project / "conf" / "base" / "dagster.yml").write_text(
        yaml.safe_dump({"jobs": {"first_total": job}})
    )

    result, _ = _launch(demo_project, "first_total", tmp_path)

    assert result["success"]
    lines = log.read_text().splitlines()
    assert len([line for line in lines if " - STEP_SUCCESS - " in line]) == 3
    assert next(line for line in lines if " - RUN_SUCCESS - " in line).startswith(
        "DEBUG|first_total - "
    )


def _with_job_executor(project: Path, executors: dict, job_executor: str) -> None:
    (project / "conf" / "base" / "dagster.yml").write_text(
        yaml.safe_dump(
            {
                "executors": executors,
                "jobs": {
                    "first_total": {
                        "pipeline": {"to_outputs": ["first.total"]},
                        "executor": job_executor,
                    }
                },
            }
        )
    )


def test_a_launched_run_of_a_dask_job_runs_its_nodes_on_a_dask_cluster(
    demo_project: Path, tmp_path: Path
) -> None:
    _with_job_executor(demo_project, {"cluster": {"dask": {"n_workers": 1}}}, "cluster")

    result, hook_log = _launch(demo_project, "first_total", tmp_path)

    assert result["success"], result
    (before,) = hook_calls(hook_log, "before_pipeline_run")
    node_pids = {call["pid"] for call in hook_calls(hook_log, "before_node_run")}
    assert len(node_pids) == 1 and before["pid"] not in node_pids  # the dask worker
    assert _per_node(hook_log, "after_node_run") == {"double": 1, "first.shift": 1, "first.sum": 1}


def test_a_launched_run_of_a_container_job_runs_inline_and_says_so(
    demo_project: Path, tmp_path: Path
) -> None:
    """A docker job (whose kedro run would need a shared instance): the UI's run still runs,
    in the run worker, with a warning in its event log."""
    _with_job_executor(demo_project, {"steps": {"docker": {"image": "project:1"}}}, "steps")

    result, hook_log = _launch(demo_project, "first_total", tmp_path)

    assert result["success"], result
    (before,) = hook_calls(hook_log, "before_pipeline_run")
    assert {call["pid"] for call in hook_calls(hook_log, "before_node_run")} == {before["pid"]}
    assert any("Executor 'steps' cannot run here" in m for m in result["warnings"])


def test_a_launched_run_retries_a_flaky_node_by_its_retry_policy(
    demo_project: Path, tmp_path: Path
) -> None:
    """dagster.yml's retry policies reach the code location's jobs: a run launched by Dagster
    retries the node as `kedro run` does (hooks per attempt in the run worker)."""
    (demo_project / "conf" / "base" / "dagster.yml").write_text(
        yaml.safe_dump({"retry_policies": {"flaky": {"max_retries": 2, "tags": ["flaky"]}}})
    )

    result, hook_log = _launch(demo_project, "kedro_retried", tmp_path)

    assert result["success"], result
    assert (demo_project / "data" / "out" / "fail_twice.count").read_text() == "3"
    assert _per_node(hook_log, "on_node_error") == {"fail_twice": 2}
    assert len(hook_calls(hook_log, "after_pipeline_run")) == 1
