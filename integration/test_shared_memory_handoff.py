"""A local multi-process run keeps its store in /dev/shm, and removes it however the run ends:
success, a failing node, Ctrl-C.

Only the run's own store is looked at: the /dev/shm folder claimed by the test's driver process
(its owner file names the driver's PID), found while two nodes are held in pool workers.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from kedro_projects import PIPELINES_OPTION, RUNNER, hook_calls, wait_for

from kedro_dagster_runner import leftovers
from kedro_dagster_runner.workers.handoff import SHARED_MEMORY_MIN_FREE


def _shared_memory_usable() -> bool:
    shared = leftovers.SHARED_MEMORY
    return (
        shared.is_dir()
        and os.access(shared, os.W_OK)
        and shutil.disk_usage(shared).free >= SHARED_MEMORY_MIN_FREE
    )


pytestmark = pytest.mark.skipif(
    not _shared_memory_usable(),
    reason="this machine has no /dev/shm with 1 GiB free: local stores stay in the temp dir",
)


def _stores_of(pid: int) -> list[Path]:
    """The run stores in /dev/shm that process ``pid`` claimed."""
    found = []
    for directory in leftovers.SHARED_MEMORY.glob("kedro-dagster-handoff-*"):
        owner = leftovers.owner_of(directory)
        if owner is not None and owner[1].partition(":")[0] == str(pid):
            found.append(directory)
    return found


# `kedro run` with Ctrl-C handled as in a terminal: a background job (CI) starts with SIGINT
# ignored, which Python would keep.
KEDRO_WITH_CTRL_C = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'kedro'; runpy.run_module('kedro', run_name='__main__')"
)


@pytest.mark.parametrize("ending", ["success", "failure", "ctrl_c"])
def test_the_run_store_in_shared_memory_is_removed_however_the_run_ends(
    demo_project: Path, tmp_path: Path, ending: str
) -> None:
    hook_log, release = tmp_path / "hooks.jsonl", tmp_path / "release"
    env = {k: v for k, v in os.environ.items() if k != "TMPDIR"}  # TMPDIR would choose disk
    env["DEMO_HOOK_LOG"] = str(hook_log)
    driver = subprocess.Popen(
        [
            sys.executable, "-c", KEDRO_WITH_CTRL_C, "run", "--runner", RUNNER, "--env", "mp",
            PIPELINES_OPTION, "held", "--params", f"release={release}",
        ],
        cwd=demo_project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for(lambda: len(hook_calls(hook_log, "before_node_run")) == 2, 120, "two nodes")
        stores = _stores_of(driver.pid)
        assert len(stores) == 1, f"expected the run's store in /dev/shm, found {stores}"
        (store,) = stores

        if ending == "ctrl_c":
            driver.send_signal(signal.SIGINT)
        else:
            release.write_text("fail" if ending == "failure" else "go")
        output, _ = driver.communicate(timeout=120)

        assert (driver.returncode == 0) == (ending == "success"), output.decode()
        assert not store.exists(), f"{store} outlived its run ({ending})"
        assert _stores_of(driver.pid) == []
        if ending != "success":
            assert len(hook_calls(hook_log, "on_pipeline_error")) == 1
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
