"""Per-node overhead of DagsterRunner's dask and Celery executors on warm workers, beside Dagster's
stock ones (dagster-dask, dagster-celery).

    python benchmarks/distributed_executors.py [--sizes 20,100] [--out FILE.json]

Workers are started once per backend (an external dask scheduler with two single-threaded
workers; a Celery worker with concurrency 2 on Redis, and one on RabbitMQ; the same dask cluster
for dagster-dask's executor, and a `dagster-celery worker start` worker with concurrency 2 on
Redis for dagster-celery's), then the synthetic
chain project is run twice through a KedroSession in this process; the second run is reported
(warm workers: imports done, only the per-run Kedro context is rebuilt). The chain's nodes are
trivial, so overhead per node = wall / N. SequentialRunner is measured in the same invocation.
Needs Redis and RabbitMQ on 127.0.0.1 (as the integration suite does).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from benchlib.projects import write_project  # noqa: E402

REDIS = ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/1")
RABBITMQ = ("amqp://guest:guest@127.0.0.1:5672//", "rpc://")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def _background(args: list[str], cwd: Path, ready: str, log: Path) -> Iterator[None]:
    """Run a command in its own process group until the block ends; wait for ``ready``."""
    with log.open("w") as stream:
        process = subprocess.Popen(
            args, cwd=cwd, stdout=stream, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            deadline = time.monotonic() + 120
            while ready not in log.read_text():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{args[0]} did not start:\n{log.read_text()}")
                time.sleep(0.5)
            yield
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)


@contextmanager
def dask_cluster(scratch: Path) -> Iterator[dict]:
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = shutil.which("dask") or "dask"
    scheduler = [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port)]
    with _background(
        [*scheduler, "--dashboard-address", ":0"], scratch, "Scheduler at", scratch / "s.log"
    ):
        workers = [dask, "worker", address, "--nworkers", "2", "--nthreads", "1"]
        with _background(
            [*workers, "--no-dashboard"], scratch, "Starting established", scratch / "w.log"
        ):
            from distributed import Client

            with Client(address, timeout=60) as client:
                client.wait_for_workers(2, timeout=120)
            yield {"dask": {"address": address}}


@contextmanager
def celery_workers(project: Path, scratch: Path, urls: tuple[str, str]) -> Iterator[dict]:
    queue = f"bench-{uuid.uuid4().hex[:6]}"
    options = {"celery": {"broker": urls[0], "backend": urls[1], "default_queue": queue}}
    _write_dagster_yml(project, {"bench": options})
    command = [sys.executable, "-m", "kedro", "dagster-runner", "celery-worker"]
    command += ["--executor", "bench", "--concurrency", "2"]
    with _background(command, project, " ready.", scratch / f"celery-{queue}.log"):
        yield options


@contextmanager
def dagster_celery_workers(project: Path, scratch: Path, urls: tuple[str, str]) -> Iterator[dict]:
    """Workers of dagster-celery's own CLI (`dagster-celery worker start`) on a queue of their
    own, for the stock executor (kind dagster_celery)."""
    queue = f"bench-{uuid.uuid4().hex[:6]}"
    home = scratch / f"dagster-home-{queue}"
    home.mkdir()
    config = scratch / f"dagster-celery-{queue}.yaml"
    config.write_text(
        yaml.safe_dump({"execution": {"config": {"broker": urls[0], "backend": urls[1]}}})
    )
    command = ["dagster-celery", "worker", "start", "-A", "dagster_celery.app", "-y", str(config),
               "-q", queue, "--", "--concurrency", "2"]  # fmt: skip
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        with _background(command, project, " ready.", scratch / f"celery-{queue}.log"):
            yield {"dagster_celery": {"broker": urls[0], "backend": urls[1],
                                      "default_queue": queue}}  # fmt: skip
    finally:
        os.environ.pop("DAGSTER_HOME", None)


def _write_dagster_yml(project: Path, executors: dict) -> None:
    path = project / "conf" / "base" / "dagster.yml"
    path.write_text(yaml.safe_dump({"executors": executors, "runner": {"executor": "in_process"}}))


def _timed_run(project: Path, runner: object) -> float:
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(project)
    with KedroSession.create(project_path=project) as session:
        started = time.perf_counter()
        session.run(runner=runner)
        return time.perf_counter() - started


def measure(project: Path, backend: str, options: dict) -> dict:
    """Cold and warm wall time of the chain under one backend."""
    from kedro_dagster_runner import DagsterRunner

    _write_dagster_yml(project, {backend: options})
    cold = _timed_run(project, DagsterRunner(executor=backend))
    warm = _timed_run(project, DagsterRunner(executor=backend))
    return {"backend": backend, "cold_s": cold, "warm_s": warm}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20,100")
    parser.add_argument("--out", default=str(HERE / "results" / "distributed.json"))
    args = parser.parse_args()
    os.environ["KEDRO_DISABLE_TELEMETRY"] = "true"
    import logging

    logging.disable(logging.WARNING)
    from kedro.runner import SequentialRunner

    rows = []
    scratch = Path(tempfile.mkdtemp(prefix="kdr-bench-distributed-"))
    for size in [int(s) for s in args.sizes.split(",")]:
        project = write_project(scratch, "chain", size).path
        sequential = _timed_run(project, SequentialRunner())
        results = []
        with dask_cluster(scratch) as options:
            results.append(measure(project, "dask", options))
            stock = {
                "dagster_dask": {"cluster": {"existing": {"address": options["dask"]["address"]}}}
            }
            results.append(measure(project, "dagster_dask", stock))
        for name, urls in (("celery_redis", REDIS), ("celery_rabbitmq", RABBITMQ)):
            with celery_workers(project, scratch, urls) as options:
                results.append(measure(project, name, options))
        with dagster_celery_workers(project, scratch, REDIS) as options:
            results.append(measure(project, "dagster_celery_redis", options))
        for result in results:
            result.update(
                nodes=size,
                sequential_s=sequential,
                warm_ms_per_node=1000 * result["warm_s"] / size,
                vs_sequential=result["warm_s"] / sequential,
            )
            rows.append(result)
    print("| backend | N | cold s | warm s | warm ms/node | x Sequential |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print(
            f"| {row['backend']} | {row['nodes']} | {row['cold_s']:.2f} | {row['warm_s']:.2f} "
            f"| {row['warm_ms_per_node']:.1f} | {row['vs_sequential']:.1f} |"
        )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=2))
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
