"""A project image of the example project runs `kedro run` with DagsterRunner in a container.

The engine is started by the harness (bridge none: containers use the host network only), the
base image is built offline with debootstrap, and the project image from the local checkout.
The container's outputs must equal a host SequentialRunner run byte for byte: the image is built
with the host's package versions as constraints.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(HERE))

from harness import BASE_IMAGE, ensure_base_image, ensure_engine  # noqa: E402
from kedro_projects import (  # noqa: E402
    EXAMPLE_PROJECT,
    RUNNER,
    copy_project,
    kedro_runner,
    persisted_outputs,
)

from kedro_dagster_runner.image import build_project_image, host_constraints  # noqa: E402

TAG = "kdr-spaceflights:test"
LABEL_KEY = "org.kedro-dagster-runner.test"
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="module")
def label() -> Iterator[str]:
    """A label set on every container of this module; none may be left when it ends."""
    value = uuid.uuid4().hex
    yield f"{LABEL_KEY}={value}"
    assert _containers(f"{LABEL_KEY}={value}") == []


@pytest.fixture(scope="module")
def project_image(tmp_path_factory: pytest.TempPathFactory) -> str:
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
        constraints=host_constraints(),
        log=log,
    )
    TIMINGS["project image"] = time.monotonic() - started
    return TAG


def _containers(label: str) -> list[str]:
    result = subprocess.run(
        ["docker", "ps", "-a", "-q", "--filter", f"label={label}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.split()


def docker_run(image: str, label: str, *args: str, volumes: dict[Path, str] | None = None):
    command = ["docker", "run", "--rm", "--network", "host", "--label", label]
    for source, target in (volumes or {}).items():
        command += ["-v", f"{source}:{target}"]
    return subprocess.run(
        [*command, image, *args], capture_output=True, text=True, timeout=900, check=False
    )


@pytest.mark.timeout(3600)
def test_image_has_dagster_and_kedro_on_path(project_image: str, label: str) -> None:
    result = docker_run(project_image, label, "dagster", "--version")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "dagster, version 1.13" in result.stdout
    result = docker_run(
        project_image,
        label,
        "sh",
        "-c",
        "command -v dagster && command -v kedro && pwd && echo $KEDRO_DISABLE_TELEMETRY "
        "&& python -c 'import spaceflights, kedro_dagster_runner, dagster_docker, "
        "dagster_postgres'",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == [
        "/opt/venv/bin/dagster",
        "/opt/venv/bin/kedro",
        "/project",
        "true",
    ]


@pytest.mark.timeout(3600)
def test_container_run_writes_the_same_bytes_as_host_sequential_run(
    project_image: str, label: str, tmp_path: Path
) -> None:
    reference_project = copy_project(EXAMPLE_PROJECT, tmp_path / "sequential")
    reference = kedro_runner(reference_project, tmp_path)()
    assert reference.returncode == 0, reference.output

    container_project = copy_project(EXAMPLE_PROJECT, tmp_path / "container")
    started = time.monotonic()
    result = docker_run(
        project_image,
        label,
        "kedro",
        "run",
        "--runner",
        RUNNER,
        volumes={container_project / "data": "/project/data"},
    )
    TIMINGS["container run"] = time.monotonic() - started
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Completed 9 out of 9 tasks" in output

    expected = persisted_outputs(reference_project)
    actual = persisted_outputs(container_project)
    assert len(expected) == 7  # 3 parquet tables, 2 versioned models, 2 metrics files
    assert actual.keys() == expected.keys()
    for key in expected:
        assert actual[key] == expected[key], f"{key} differs"
    print(f"timings: {TIMINGS}")


def test_no_docker_bridge_network_exists() -> None:
    """The engine runs with --bridge=none: Docker never made a bridge network here."""
    if shutil.which("docker") is None:
        pytest.skip("no docker client")
    ensure_engine()
    drivers = subprocess.run(
        ["docker", "network", "ls", "--format", "{{.Driver}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "bridge" not in drivers
