"""The Dagster run tags of a ``kedro run``: what ran, where from, by whom.

Only facts that are safe to show are tagged: the Kedro run id, env, pipelines, the node filters
of the command line, the user and the project's git commit. Runtime parameters (``--params``)
are never tagged: they may hold secrets.
"""

from __future__ import annotations

import getpass
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# run_params keys of Kedro's session (the filters of `kedro run`) -> tag suffix
FILTERS = (
    "tags",
    "from_nodes",
    "to_nodes",
    "node_names",
    "from_inputs",
    "to_outputs",
    "namespaces",
)


def run_tags(
    run_id: str,
    env: str | None,
    pipeline_names: list[str],
    submit: str,
    run_params: Mapping[str, Any] | None = None,
    project_path: str | None = None,
) -> dict[str, str]:
    """Tags of the Dagster run; filters, user and git commit only when there are any."""
    tags = {
        "kedro/run_id": run_id,
        "kedro/env": env or "",
        "kedro/pipeline": ",".join(pipeline_names),
        "kedro/runner": "DagsterRunner",
        "kedro/submit": submit,
    }
    for name in FILTERS:
        value = (run_params or {}).get(name)
        if value:
            items = value if isinstance(value, list | tuple | set) else [value]
            tags[f"kedro/{name}"] = ",".join(str(item) for item in items)
    user = _user()
    if user:
        tags["kedro/user"] = user
    sha = git_sha(project_path) if project_path else None
    if sha:
        tags["kedro/git_sha"] = sha
    return tags


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return None


def git_sha(path: str) -> str | None:
    """The commit checked out in the repository holding ``path`` (``+dirty`` when modified)."""
    here = Path(path).resolve()
    if not any((parent / ".git").exists() for parent in (here, *here.parents)):
        return None
    try:
        sha = subprocess.run(
            ["git", "-C", path, "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", path, "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{sha}+dirty" if dirty else sha or None
