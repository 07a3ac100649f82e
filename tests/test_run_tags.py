"""Run tags: what ran (filters), who ran it and from which commit; never runtime parameters."""

from __future__ import annotations

import getpass
import subprocess
from pathlib import Path

from kedro_projects import needs_runner_params


def _git(project: Path, *args: str) -> str:
    command = ["git", "-C", str(project), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    return subprocess.run([*command, *args], capture_output=True, text=True, check=True).stdout


@needs_runner_params
def test_tags_name_filters_user_and_commit_but_not_params(
    kedro_demo, demo_project: Path, dagster_home: Path
) -> None:
    from dagster import DagsterInstance
    from kedro_projects import RUNNER

    _git(demo_project, "init", "-q")
    _git(demo_project, "add", "-A")
    _git(demo_project, "commit", "-q", "-m", "demo")
    sha = _git(demo_project, "rev-parse", "HEAD").strip()

    run = kedro_demo(
        "--runner", RUNNER, "--runner-params", "instance=dagster_home",
        "--nodes", "double,spread", "--from-nodes", "double", "--params", "factor=3",
    )  # fmt: skip

    assert run.returncode == 0, run.output
    with DagsterInstance.get() as instance:
        (dagster_run,) = instance.get_runs()
    tags = {k: v for k, v in dagster_run.tags.items() if k.startswith("kedro/")}
    assert tags == {
        "kedro/run_id": run.run_id,
        "kedro/env": "local",
        "kedro/pipeline": "__default__",
        "kedro/runner": "DagsterRunner",
        "kedro/submit": "attached",
        "kedro/node_names": "double,spread",
        "kedro/from_nodes": "double",
        "kedro/user": getpass.getuser(),
        "kedro/git_sha": sha,  # untracked outputs do not make it dirty
    }
