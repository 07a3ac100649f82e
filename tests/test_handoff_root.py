"""The default handoff root of detached runs: one private directory per user."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kedro_dagster_runner.errors import DagsterRunnerError
from kedro_dagster_runner.workers.handoff import detached_handoff_root


@pytest.fixture
def temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    return tmp_path


def test_root_is_created_private_to_the_user(temp_dir: Path) -> None:
    root = detached_handoff_root()

    assert root == temp_dir / f"kedro-dagster-handoff-{os.getuid()}"
    assert root.stat().st_mode & 0o777 == 0o700
    assert detached_handoff_root() == root  # reused by the next run


def test_a_root_open_to_others_is_refused(temp_dir: Path) -> None:
    root = temp_dir / f"kedro-dagster-handoff-{os.getuid()}"
    root.mkdir()
    root.chmod(0o777)

    with pytest.raises(DagsterRunnerError, match="not a private directory"):
        detached_handoff_root()


def test_a_symlink_in_its_place_is_refused(temp_dir: Path) -> None:
    target = temp_dir / "elsewhere"
    target.mkdir(mode=0o700)
    (temp_dir / f"kedro-dagster-handoff-{os.getuid()}").symlink_to(target)

    with pytest.raises(DagsterRunnerError, match="not a private directory"):
        detached_handoff_root()
