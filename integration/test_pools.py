"""Dagster concurrency pools from dagster.yml (`pools`), enforced across two `kedro run` at once
on one instance: with the pool's limit at 1 (set as `dagster instance concurrency set` does), a
node of the pool in the second run waits until the first run's node of the pool is done."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import dagster
import yaml
from kedro_projects import RUNNER, hook_calls, wait_for


def _run(project: Path, node: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "kedro", "run", "--runner", RUNNER, "--pipelines", "held",
         "--nodes", node, "--params", f"release={project / 'release'}"],
        cwd=project, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip


def test_a_pool_limit_holds_across_concurrent_runs_of_one_instance(
    demo_project: Path, tmp_path: Path, worker_env: dict[str, str]
) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("")
    with dagster.DagsterInstance.from_config(str(home)) as instance:
        instance.event_log_storage.set_concurrency_slots("warehouse", 1)
    (demo_project / "conf" / "base" / "dagster.yml").write_text(
        yaml.safe_dump(
            {
                "pools": {"warehouse": {"nodes": ["hold_a", "hold_b"]}},
                "runner": {"executor": "in_process", "instance": "dagster_home"},
            }
        )
    )
    env = {**worker_env, "DAGSTER_HOME": str(home)}
    hook_log = Path(env["DEMO_HOOK_LOG"])

    def started() -> list[str]:
        return [call["node"] for call in hook_calls(hook_log, "before_node_run")]

    first = _run(demo_project, "hold_a", env, tmp_path / "first.log")
    wait_for(lambda: started() == ["hold_a"], 120, "the first run's node to start")
    second = _run(demo_project, "hold_b", env, tmp_path / "second.log")
    # "Running 1 nodes as Dagster job ..." is printed as the run is handed to Dagster
    wait_for(lambda: "as Dagster job" in (tmp_path / "second.log").read_text(), 120,
             "the second run to start")  # fmt: skip
    time.sleep(8)  # the second run is going: its node of the pool must be waiting
    assert started() == ["hold_a"], (tmp_path / "second.log").read_text()

    (demo_project / "release").touch()
    assert first.wait(timeout=120) == 0, (tmp_path / "first.log").read_text()
    assert second.wait(timeout=120) == 0, (tmp_path / "second.log").read_text()
    order = [(c["hook"], c["node"]) for c in hook_calls(hook_log) if c.get("node")]
    assert order.index(("after_node_run", "hold_a")) < order.index(("before_node_run", "hold_b"))
    with dagster.DagsterInstance.from_config(str(home)) as instance:
        info = instance.event_log_storage.get_concurrency_info("warehouse")
        assert info.slot_count == 1 and not info.claimed_slots  # every slot given back
