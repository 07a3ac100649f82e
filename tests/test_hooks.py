"""Where and how often each Kedro hook fires under DagsterRunner, recorded by the demo project."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from kedro_projects import RUNNER, KedroRunner

DEMO_NODES = 8
NODE_HOOKS = ("before_node_run", "after_node_run")
DATASET_HOOKS = (
    "before_dataset_loaded",
    "after_dataset_loaded",
    "before_dataset_saved",
    "after_dataset_saved",
)


def _dataset_hook_counts(run) -> Counter:
    return Counter((c["hook"], c["node"], c["dataset"]) for c in run.hooks if "dataset" in c)


@pytest.fixture(scope="module")
def sequential_reference(tmp_path_factory: pytest.TempPathFactory):
    from kedro_projects import DEMO_PROJECT, copy_project, kedro_runner

    root = tmp_path_factory.mktemp("sequential")
    project = copy_project(DEMO_PROJECT, root / "demo_project")
    run = kedro_runner(project, root)()
    assert run.returncode == 0, run.output
    return run


@pytest.mark.parametrize("env", ["base", "mp"])
def test_hooks_fire_once_per_node_and_pipeline_hooks_once_in_the_driver(
    kedro_demo: KedroRunner, sequential_reference, env: str
) -> None:
    run = kedro_demo("--runner", RUNNER, "--env", env)
    assert run.returncode == 0, run.output

    driver = run.driver_pid
    for hook in ("before_pipeline_run", "after_pipeline_run"):
        assert [c["pid"] for c in run.calls(hook)] == [driver]
    assert run.calls("on_pipeline_error") == []

    for hook in NODE_HOOKS:
        calls = run.calls(hook)
        assert len(calls) == DEMO_NODES
        assert Counter(c["node"] for c in calls) == Counter(
            c["node"] for c in sequential_reference.calls(hook)
        )
    # Dataset hooks fire for every load and save, memory datasets included, as under Kedro.
    assert _dataset_hook_counts(run) == _dataset_hook_counts(sequential_reference)

    node_pid = {c["node"]: c["pid"] for c in run.calls("before_node_run")}
    for call in run.hooks:
        if "node" in call:  # node and dataset hooks fire where the node runs
            assert call["pid"] == node_pid[call["node"]], call
    if env == "base":
        assert set(node_pid.values()) == {driver}
    else:
        workers = set(node_pid.values())
        assert driver not in workers
        assert 1 <= len(workers) <= 2  # max_concurrent of the demo's pool
        contexts = Counter(c["pid"] for c in run.calls("after_context_created"))
        assert all(contexts[pid] == 1 for pid in workers)  # a warm worker rebuilds once


def test_every_process_uses_the_driver_run_id_as_save_version(
    kedro_demo: KedroRunner, demo_project: Path
) -> None:
    run = kedro_demo("--runner", RUNNER, "--env", "mp")
    assert run.returncode == 0, run.output

    catalogs = run.calls("after_catalog_created")
    assert len({c["pid"] for c in catalogs}) > 1  # the driver and the worker(s) built catalogs
    assert {c["save_version"] for c in catalogs} == {run.run_id}
    assert {c["run_id"] for c in run.calls("before_node_run")} == {run.run_id}
    versions = [p.name for p in (demo_project / "data/out/report.pkl").iterdir()]
    assert versions == [run.run_id]
    contexts = run.calls("after_context_created")
    assert {c["env"] for c in contexts} == {"mp"}
