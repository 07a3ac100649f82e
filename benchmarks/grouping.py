"""Node grouping on container executors: containers (or Kubernetes Jobs) per run and wall time,
with and without `runner.group_nodes`.

    python benchmarks/grouping.py [--repeat 2] [--strategies none,namespace,memory_chains]
                                  [--executors docker,k8s] [--out FILE.json]

The example project (9 nodes: 3 of data processing, then two modelling namespaces of 3 nodes
joined by in-memory splits) runs through `kedro run --runner kedro_dagster_runner.DagsterRunner`
on the docker executor (one container per step, at most 2 at once) and on the k8s executor
against the project's Kubernetes API emulator (one Job per step; its pods are Docker containers
on this machine, so the figures are those of a one-node cluster whose images are already
pulled). Each run is recorded in a fresh Postgres database. Containers are counted from the
Docker engine's `create` events labelled with the run, Jobs from the emulator's record.
Kedro's SequentialRunner on the host is measured in the same invocation, as the reference.

Needs what the integration suite needs: the Docker engine (started here when it does not
answer), debootstrap for the base image (built once and cached), Postgres on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "integration" / "docker"), str(REPO / "integration"), str(REPO)]

from conftest import PROJECT_IMAGE, k8s_project, psql  # noqa: E402
from harness import (  # noqa: E402
    BASE_IMAGE,
    containers_created,
    ensure_base_image,
    ensure_engine,
)
from kedro_projects import EXAMPLE_PROJECT, VERSION, copy_project  # noqa: E402

from kedro_dagster_runner.deploy.image import (  # noqa: E402
    DEFAULT_EXTRAS,
    build_project_image,
    host_constraints,
)
from kedro_dagster_runner.executors.docker import CONTAINER_LABEL  # noqa: E402

RUNNER = "kedro_dagster_runner.DagsterRunner"
PASSWORD_ENV = {"DAGSTER_PG_PASSWORD": "trust-auth"}


def _kedro_run(project: Path, *args: str) -> float:
    """Wall seconds of one `kedro run` in ``project`` (raises when it fails)."""
    env = {**os.environ, **PASSWORD_ENV, "KEDRO_DISABLE_TELEMETRY": "true"}
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "kedro", "run", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"kedro run {' '.join(args)} failed:\n{result.stderr[-4000:]}")
    return wall


def _run_id(project: Path) -> str:
    """The save version of the run's versioned outputs (the Kedro run id)."""
    found = {
        match[0] for path in (project / "data").rglob("*") if (match := VERSION.search(str(path)))
    }
    (run_id,) = found
    return run_id


def _containers_created(run_id: str, since: float) -> int:
    return containers_created(f"{CONTAINER_LABEL}={run_id}", since)


def _docker_project(target: Path, db_name: str, strategy: str) -> Path:
    project = copy_project(EXAMPLE_PROJECT, target)
    path = project / "conf" / "base" / "dagster.yml"
    config = yaml.safe_load(path.read_text()) if path.exists() else {}
    config.setdefault("executors", {})["containers"] = {
        "docker": {"image": PROJECT_IMAGE, "max_concurrent": 2}
    }
    config["runner"] = {
        "executor": "containers",
        "instance": {"postgres": {"db_name": db_name}},
        "group_nodes": strategy,
    }
    path.write_text(yaml.safe_dump(config))
    return project


def _measure_docker(scratch: Path, strategy: str) -> tuple[float, int]:
    db_name = f"kdr_bench_{uuid.uuid4().hex[:8]}"
    psql(f"CREATE DATABASE {db_name}")
    try:
        project = _docker_project(scratch / f"docker-{uuid.uuid4().hex[:6]}", db_name, strategy)
        since = time.time() - 1
        wall = _kedro_run(project, "--runner", RUNNER)
        return wall, _containers_created(_run_id(project), since)
    finally:
        psql(f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")


def _measure_k8s(scratch: Path, strategy: str) -> tuple[float, int]:
    from integration.k8s_emulator import K8sEmulator

    db_name = f"kdr_bench_{uuid.uuid4().hex[:8]}"
    psql(f"CREATE DATABASE {db_name}")
    try:
        with K8sEmulator() as emulator:
            project = k8s_project(
                EXAMPLE_PROJECT, scratch / f"k8s-{uuid.uuid4().hex[:6]}", PROJECT_IMAGE,
                db_name, emulator, "trust-auth", {"image_pull_policy": "Never"},
                {"group_nodes": strategy},
            )  # fmt: skip
            wall = _kedro_run(project, "--runner", RUNNER)
            return wall, len(emulator.validated_jobs)
    finally:
        psql(f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="runs per configuration")
    parser.add_argument("--strategies", default="none,namespace,memory_chains")
    parser.add_argument("--executors", default="docker,k8s")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON")
    args = parser.parse_args(argv)

    ensure_engine()
    ensure_base_image(BASE_IMAGE)
    with tempfile.TemporaryDirectory(prefix="kdr-grouping-bench-") as scratch_name:
        scratch = Path(scratch_name)
        build_project_image(
            EXAMPLE_PROJECT, PROJECT_IMAGE, BASE_IMAGE, runner_source=REPO,
            extras=DEFAULT_EXTRAS, constraints=host_constraints(),
            log=scratch / "docker-build.log",
        )  # fmt: skip
        load = os.getloadavg()[0]
        sequential = [
            _kedro_run(copy_project(EXAMPLE_PROJECT, scratch / f"seq-{index}"))
            for index in range(args.repeat)
        ]
        measure = {"docker": _measure_docker, "k8s": _measure_k8s}
        rows = []
        for executor in args.executors.split(","):
            for strategy in args.strategies.split(","):
                runs = [measure[executor](scratch, strategy) for _ in range(args.repeat)]
                rows.append(
                    {
                        "executor": executor,
                        "group_nodes": strategy,
                        "steps": runs[-1][1],
                        "wall_s": statistics.median(wall for wall, _ in runs),
                    }
                )
    print(f"load average at start: {load:.2f}; SequentialRunner on the host: "
          f"{statistics.median(sequential):.2f} s (median of {args.repeat})")  # fmt: skip
    print("| executor | group_nodes | containers or Jobs | wall s (median) | vs none |")
    print("| --- | --- | ---: | ---: | ---: |")
    baseline = {row["executor"]: row["wall_s"] for row in rows if row["group_nodes"] == "none"}
    for row in rows:
        ratio = row["wall_s"] / baseline[row["executor"]] if row["executor"] in baseline else 0
        print(f"| {row['executor']} | {row['group_nodes']} | {row['steps']} | "
              f"{row['wall_s']:.2f} | {ratio:.2f}x |")  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps({"load": load, "sequential": sequential, "rows": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
