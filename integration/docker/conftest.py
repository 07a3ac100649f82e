"""Fixtures of the container tests: the project image, built once per session, and the emulator."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(HERE))

from harness import (  # noqa: E402
    BASE_IMAGE,
    containers_with_label,
    ensure_base_image,
    ensure_engine,
)
from kedro_projects import EXAMPLE_PROJECT  # noqa: E402

from kedro_dagster_runner.image import build_project_image, host_constraints  # noqa: E402

TAG = "kdr-spaceflights:test"
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="session")
def project_image(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The example project's image with this checkout of the runner (docker, postgres, k8s)."""
    started = time.monotonic()
    ensure_engine()
    ensure_base_image(BASE_IMAGE)
    TIMINGS["engine+base"] = time.monotonic() - started
    started = time.monotonic()
    log = tmp_path_factory.mktemp("build") / "docker-build.log"
    build_project_image(
        EXAMPLE_PROJECT,
        TAG,
        BASE_IMAGE,
        runner_source=REPO,
        extras=("docker", "postgres", "k8s"),
        constraints=host_constraints(),
        log=log,
    )
    TIMINGS["project image"] = time.monotonic() - started
    return TAG


@pytest.fixture
def emulator() -> Iterator:
    """The project's Kubernetes API emulator; none of its pod containers may be left after."""
    sys.path.insert(0, str(REPO))
    from integration.k8s_emulator import K8sEmulator

    with K8sEmulator() as server:
        yield server
    assert containers_with_label(f"org.kedro-dagster-runner.k8s-emulator={server.server_id}") == []
