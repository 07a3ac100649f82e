"""dagster.yml's jobs, run from the terminal: ``runner.job`` (or ``--runner-params job=``) runs
the job's nodes (Kedro's Pipeline.filter on a registered pipeline) on the job's executor, as a
Dagster job of the job's name."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kedro_projects import (
    DEMO_PROJECT,
    RUNNER,
    KedroRunner,
    copy_project,
    hook_calls,
    kedro_runner,
    needs_runner_params,
)

from kedro_dagster_runner.config import resolve_config
from kedro_dagster_runner.errors import ConfigError

JOBS_FILE = {
    "executors": {"serial": {"in_process": {}}, "pool": {"multiprocess": {"max_concurrent": 2}}},
    "schedules": {"daily": {"cron_schedule": "0 6 * * *", "execution_timezone": "UTC"}},
    "jobs": {
        "first_total": {
            "pipeline": {"pipeline_name": "__default__", "to_outputs": ["first.total"]},
            "executor": "pool",
            "schedule": "daily",
        },
        "second_stats": {
            "pipeline": {"pipeline_name": "__default__", "node_namespaces": ["second"]},
        },
    },
    "runner": {"executor": "serial"},
}


def _with_env(project: Path, env: str, content: dict) -> Path:
    (project / "conf" / env).mkdir(exist_ok=True)
    (project / "conf" / env / "dagster.yml").write_text(yaml.safe_dump(content))
    return project


def _outputs(project: Path) -> dict[str, bytes]:
    return {
        path.name: path.read_bytes() for path in sorted((project / "data" / "out").rglob("*.json"))
    }


def _nodes_run(hook_log: Path) -> list[str]:
    return sorted(call["node"] for call in hook_calls(hook_log, "before_node_run"))


def test_runner_job_runs_the_jobs_nodes_on_its_executor_as_kedro_filters_them(
    tmp_path: Path,
) -> None:
    reference = copy_project(DEMO_PROJECT, tmp_path / "sequential")
    project = copy_project(DEMO_PROJECT, tmp_path / "job")
    _with_env(
        project, "jobs", {**JOBS_FILE, "runner": {"executor": "serial", "job": "first_total"}}
    )

    expected = kedro_runner(reference, tmp_path / "sequential")("--to-outputs", "first.total")
    result = kedro_runner(project, tmp_path / "job")("--runner", RUNNER, "--env", "jobs")

    assert expected.returncode == 0, expected.output
    assert result.returncode == 0, result.output
    assert "as Dagster job 'first_total' on the multiprocess executor" in result.output
    assert _nodes_run(result.hook_log) == _nodes_run(expected.hook_log)
    assert _nodes_run(result.hook_log) == ["double", "first.shift", "first.sum"]
    assert _outputs(project) == _outputs(reference)
    assert len(hook_calls(result.hook_log, "before_pipeline_run")) == 1
    assert len(hook_calls(result.hook_log, "after_pipeline_run")) == 1


@needs_runner_params
def test_runner_params_pick_the_job_and_may_override_its_executor(tmp_path: Path) -> None:
    project = _with_env(copy_project(DEMO_PROJECT, tmp_path / "job"), "jobs", JOBS_FILE)

    result = kedro_runner(project, tmp_path)(
        "--runner", RUNNER, "--env", "jobs", "--runner-params", "job=first_total,executor=serial"
    )

    assert result.returncode == 0, result.output
    assert "as Dagster job 'first_total' on the in_process executor" in result.output
    assert _nodes_run(result.hook_log) == ["double", "first.shift", "first.sum"]


def test_a_job_with_kedro_run_filters_is_refused_before_any_node(tmp_path: Path) -> None:
    project = copy_project(DEMO_PROJECT, tmp_path / "job")
    _with_env(project, "jobs", {**JOBS_FILE, "runner": {"job": "second_stats"}})

    result = kedro_runner(project, tmp_path)("--runner", RUNNER, "--env", "jobs", "--tags", "stats")

    assert result.returncode != 0
    assert (
        "runner.job: job 'second_stats' selects its nodes itself (jobs.second_stats.pipeline in "
        "dagster.yml); kedro run also got --tags: drop them or the job." in result.output
    )
    assert hook_calls(result.hook_log, "before_node_run") == []


@pytest.mark.parametrize(
    ("jobs", "expected"),
    [
        (
            {"j": {"pipeline": {"pipeline_name": "nope"}}},
            "jobs.j.pipeline.pipeline_name: no pipeline 'nope' is registered; registered: ",
        ),
        (
            {"j": {"pipeline": {"node_names": ["no_such_node"]}}},
            "jobs.j.pipeline: ",
        ),
        (
            {"j": {"pipeline": {"tags": ["no_such_tag"]}}},
            "no nodes after applying all provided filters",
        ),
    ],
)
def test_a_job_whose_pipeline_selects_nothing_runnable_is_refused_naming_its_key(
    kedro_demo: KedroRunner, demo_project: Path, jobs: dict, expected: str
) -> None:
    _with_env(demo_project, "jobs", {"jobs": jobs, "runner": {"job": "j"}})

    result = kedro_demo("--runner", RUNNER, "--env", "jobs")

    assert result.returncode != 0
    assert expected in result.output
    assert "jobs.j.pipeline" in result.output
    assert hook_calls(result.hook_log, "before_node_run") == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"runner": {"job": "first_totl"}},
            "runner.job: no job 'first_totl' under 'jobs' (did you mean first_total?); "
            "defined: first_total, second_stats",
        ),
        (
            {"jobs": {"j": {"executor": "pol"}}},
            "jobs.j.executor: 'pol' is neither an executor under 'executors' nor a known kind "
            "(did you mean pool?)",
        ),
        (
            {"jobs": {"j": {"schedule": "dayly"}}},
            "jobs.j.schedule: no schedule 'dayly' under 'schedules' (did you mean daily?); "
            "defined: daily",
        ),
        (
            {"jobs": {"j": {"pipeline": {"pipeline_nme": "x"}}}},
            "jobs.j.pipeline.pipeline_nme: unknown key (did you mean pipeline_name?)",
        ),
        (
            {"schedules": {"s": {"cron": "0 6 * * *"}}},
            "schedules.s.cron_schedule: Field required",
        ),
    ],
)
def test_bad_jobs_and_schedules_name_the_key_to_fix(change: dict, expected: str) -> None:
    raw = {**JOBS_FILE, **change}
    with pytest.raises(ConfigError) as error:
        resolve_config(raw, source="conf/base/dagster.yml")

    assert expected in str(error.value)


def test_the_resolved_configuration_carries_every_job_and_schedule() -> None:
    config = resolve_config(JOBS_FILE)

    assert config.job is None
    assert sorted(config.jobs) == ["first_total", "second_stats"]
    assert config.jobs["first_total"].pipeline.to_outputs == ["first.total"]
    assert config.jobs["second_stats"].pipeline.namespaces() == ["second"]
    assert config.schedules["daily"].cron_schedule == "0 6 * * *"
    assert config.executor.kind == "in_process"  # without runner.job, the runner's executor


def test_kedro_dagster_job_factories_are_named_and_left_out() -> None:
    config = resolve_config({**JOBS_FILE, "jobs": {**JOBS_FILE["jobs"], "{namespace}_job": {}}})

    assert sorted(config.jobs) == ["first_total", "second_stats"]
    assert any("{namespace}_job not used" in line for line in config.notices)
