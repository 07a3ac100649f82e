"""`kedro run` filters and options select the same nodes under DagsterRunner as under Kedro."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.runner import SequentialRunner
from kedro_projects import RUNNER, KedroRunner

from kedro_dagster_runner import DagsterRunner


def session_run(
    project: Path, log: Path, runner: Any, runtime_params: dict | None = None, **run_kwargs: Any
) -> tuple[list[str], dict[str, Any]]:
    """Run the project through a KedroSession; return the nodes that ran and the run result."""
    log.unlink(missing_ok=True)
    os.environ["DEMO_HOOK_LOG"] = str(log)
    try:
        bootstrap_project(project)
        with KedroSession.create(project_path=project, runtime_params=runtime_params) as session:
            result = session.run(runner=runner, **run_kwargs)
    finally:
        del os.environ["DEMO_HOOK_LOG"]
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return sorted(c["node"] for c in calls if c["hook"] == "before_node_run"), result


FILTERS = [
    {"tags": ["prep"]},
    {"tags": ["prep", "report"]},
    {"node_names": ["double", "spread"]},
    {"from_nodes": ["summarise"]},
    {"to_nodes": ["first.sum"]},
    {"from_inputs": ["doubled"], "to_outputs": ["summary"]},
    {"namespaces": ["second"]},
]


@pytest.mark.parametrize("run_kwargs", FILTERS, ids=",".join)
def test_filters_select_the_same_nodes_as_sequential_runner(
    demo_project: Path, tmp_path: Path, run_kwargs: dict
) -> None:
    log = tmp_path / "hooks.jsonl"
    session_run(demo_project, log, SequentialRunner())  # persist every dataset first

    expected, _ = session_run(demo_project, log, SequentialRunner(), **run_kwargs)
    actual, _ = session_run(demo_project, log, DagsterRunner(), **run_kwargs)

    assert actual == expected
    assert actual  # the filter selected something


def test_only_missing_outputs_reruns_what_kedro_would(demo_project: Path, tmp_path: Path) -> None:
    log = tmp_path / "hooks.jsonl"
    session_run(demo_project, log, SequentialRunner())
    summary = demo_project / "data/out/summary.json"

    summary.unlink()
    expected, _ = session_run(demo_project, log, SequentialRunner(), only_missing_outputs=True)
    summary.unlink()
    actual, _ = session_run(demo_project, log, DagsterRunner(), only_missing_outputs=True)

    assert actual == expected
    assert "summarise" in actual and "double" not in actual


def test_runtime_params_reach_the_nodes(demo_project: Path, tmp_path: Path) -> None:
    session_run(demo_project, tmp_path / "h.jsonl", DagsterRunner(), runtime_params={"factor": 3})

    doubled = json.loads((demo_project / "data/out/doubled.json").read_text())
    assert doubled == [9, 3, 12, 3, 15, 27, 6, 18]


def test_multiprocess_workers_get_runtime_params_and_filters(kedro_demo: KedroRunner) -> None:
    run = kedro_demo(
        "--runner", RUNNER, "--env", "mp", "--to-nodes", "first.sum", "--params", "factor=3"
    )  # fmt: skip

    assert run.returncode == 0, run.output
    assert run.nodes_run() == ["double", "first.shift", "first.sum"]
    total = json.loads((kedro_demo_project(run) / "data/out/first_total.json").read_text())
    assert total == 3 * 31 + 8 * 10


def kedro_demo_project(run: Any) -> Path:
    return run.hook_log.parent / "demo_project"


def test_free_in_memory_outputs_come_back_from_worker_processes(
    demo_project: Path, tmp_path: Path
) -> None:
    _, expected = session_run(demo_project, tmp_path / "s.jsonl", SequentialRunner())
    _, result = session_run(demo_project, tmp_path / "d.jsonl", DagsterRunner(executor="pool"))

    assert set(result) == set(expected) == {"report", "spread"}
    assert result["spread"].load() == expected["spread"].load() == {"min": 2, "max": 18}
