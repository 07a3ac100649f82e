"""Faults provoked for real on remote executors: Ctrl-C and SIGKILL of `kedro run`, a killed
Celery worker, a killed dask worker, a lost Redis, a lost dask scheduler. A node of a run that
has ended never starts and never writes; a node is never run twice; a lost worker or service
fails the run with a message naming it.

Each test runs the demo project's `held` pipeline: three nodes that block until a release file
exists, then write `data/out/held_<x>.json`. Processes are the test's own (its workers, its
driver, its Redis or scheduler); files are under its tmp_path.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import (
    Background,
    DaskCluster,
    free_port,
    start_celery_worker,
    wait_for_port,
    write_dagster_yml,
)
from kedro_projects import RUNNER, KedroRunner, hook_calls, wait_for

HELD = ("hold_a", "hold_b", "hold_c")
OUTPUTS_REFUSED = "Refusing the outputs of node"


@dataclass
class HeldRun:
    """`kedro run --pipelines held` on one executor, in the background."""

    project: Path
    tmp_path: Path
    env: dict[str, str]
    driver: subprocess.Popen | None = None

    @property
    def hook_log(self) -> Path:
        return Path(self.env["DEMO_HOOK_LOG"])

    @property
    def release(self) -> Path:
        return self.tmp_path / "release"

    def configure(self, name: str, entry: dict) -> None:
        write_dagster_yml(self.project, {"serial": {"in_process": {}}, name: entry})

    def start(self, executor: str, running: int = 2) -> None:
        """Start the run and wait until ``running`` nodes have started."""
        self.driver = subprocess.Popen(
            [sys.executable, "-m", "kedro", "run", "--runner", RUNNER,
             "--runner-params", f"executor={executor}", "--pipelines", "held",
             "--params", f"release={self.release}"],
            cwd=self.project, env={**self.env, "COLUMNS": "250"},
            stdout=(self.tmp_path / "run.log").open("w"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_for(lambda: len(self.started()) == running, 120, f"{running} nodes running")

    def finish(self, timeout: float = 120) -> int:
        assert self.driver is not None
        return self.driver.wait(timeout=timeout)

    def output(self) -> str:
        """What `kedro run` printed, whitespace collapsed (rich wraps long lines)."""
        return " ".join((self.tmp_path / "run.log").read_text().split())

    def started(self) -> list[str]:
        return sorted(call["node"] for call in hook_calls(self.hook_log, "before_node_run"))

    def written(self) -> list[str]:
        return sorted(path.name for path in (self.project / "data" / "out").glob("held_*.json"))

    def stop(self) -> None:
        if self.driver is not None and self.driver.poll() is None:
            self.driver.kill()


@pytest.fixture
def held(
    demo: tuple[Path, KedroRunner], worker_env: dict[str, str], tmp_path: Path
) -> Iterator[HeldRun]:
    run = HeldRun(demo[0], tmp_path, worker_env)
    yield run
    run.stop()


@pytest.fixture
def workers() -> Iterator[list[Background]]:
    """Background processes (Celery workers) the test starts; stopped at its end."""
    started: list[Background] = []
    yield started
    for worker in started:
        worker.stop()


def _celery_entry(redis_url: str, queue: str, **options: object) -> dict:
    return {
        "celery": {
            "broker": f"{redis_url}/0",
            "backend": f"{redis_url}/1",
            "default_queue": queue,
            **options,
        }
    }


def _celery(
    held: HeldRun, workers: list[Background], redis_url: str, queue: str, **options: object
) -> Background:
    """Configure executor `celery_redis` and start one worker for it."""
    held.configure("celery_redis", _celery_entry(redis_url, queue, **options))
    log = held.tmp_path / f"worker-{len(workers)}.log"
    workers.append(start_celery_worker(held.project, "celery_redis", held.env, log))
    return workers[-1]


def _refused_outputs(log: Callable[[], str], count: int) -> None:
    wait_for(lambda: log().count(OUTPUTS_REFUSED) == count, 60, f"{count} refused outputs")


@pytest.mark.parametrize("backend", ["dask_scheduler", "celery_redis"])
def test_ctrl_c_stops_remote_nodes_and_nothing_is_written_after(
    backend: str,
    request: pytest.FixtureRequest,
    held: HeldRun,
    workers: list[Background],
    queue_name: str,
) -> None:
    if backend == "dask_scheduler":
        held.configure(backend, {"dask": {"address": request.getfixturevalue("dask_scheduler")}})
    else:
        _celery(held, workers, request.getfixturevalue("redis_url"), queue_name)
    held.start(backend)

    held.driver.send_signal(signal.SIGINT)
    assert held.finish(timeout=60) != 0
    ended = len(hook_calls(held.hook_log))
    held.release.touch()  # the running nodes could now return and save their outputs

    if backend == "dask_scheduler":  # dask cannot stop running tasks: they return, and the
        # workers refuse their outputs
        _refused_outputs((held.tmp_path / "workers.log").read_text, 2)
    else:  # Celery terminates the running tasks it revokes
        time.sleep(5)  # the time a node left running would need to save
    late = hook_calls(held.hook_log)[ended:]
    assert [c for c in late if c["hook"] in ("after_node_run", "before_node_run")] == []
    assert held.written() == []
    assert len(held.started()) == 2 and set(held.started()) < set(HELD)  # one never started


def test_a_killed_celery_worker_fails_its_nodes_and_a_later_worker_refuses_them(
    held: HeldRun, workers: list[Background], redis_url: str, queue_name: str
) -> None:
    first = _celery(held, workers, redis_url, queue_name, lost_worker_timeout=3,
                    visibility_timeout=5)  # fmt: skip
    held.start("celery_redis")

    os.killpg(first.process.pid, signal.SIGKILL)  # the whole worker, as the OOM killer would
    assert held.finish() != 0
    output = " ".join(held.output().split())
    silent = [f"Celery worker celery@{os.uname().nodename}, running step '{node}', does not "
              "answer on broker redis://127.0.0.1:6379/0" for node in held.started()]  # fmt: skip
    assert all(f"{text}; the step fails as lost" in output for text in silent), output
    assert any(f"WorkerLostError: {text}: no answer for" in output for text in silent)

    # Redis delivers the unacknowledged tasks again after visibility_timeout (5 s); the queued
    # third one is still there: a new worker gets them and refuses each.
    held.release.touch()
    later = _celery(held, workers, redis_url, queue_name, visibility_timeout=5)
    wait_for(lambda: later.output().count("its run has ended") >= 3, 90, "3 refusals")
    assert "Refusing step 'hold_" in later.output()
    assert len(held.started()) == 2  # nothing ran again
    assert held.written() == []


def test_a_task_redelivered_while_its_node_runs_does_not_run_it_twice(
    held: HeldRun, workers: list[Background], redis_url: str, queue_name: str
) -> None:
    """Acks-late on Redis: a node running longer than visibility_timeout has its task delivered
    again while it runs; the step lease answers the duplicate and the run goes on."""
    worker = _celery(held, workers, redis_url, queue_name, visibility_timeout=1)
    held.start("celery_redis")
    # kombu restores unacknowledged Redis messages past their visibility timeout at most every
    # 10 s; the duplicates wait for a free slot or find the node still running
    time.sleep(12)
    held.release.touch()

    assert held.finish() == 0, held.output()
    assert held.started() == list(HELD)  # each node ran once
    assert held.written() == [f"held_{name[-1]}.json" for name in HELD]
    assert "delivered a second time" in worker.output() or "delivered again" in worker.output()


def test_a_killed_driver_leaves_nothing_for_celery_workers_of_its_host_to_run(
    held: HeldRun, workers: list[Background], redis_url: str, queue_name: str
) -> None:
    """SIGKILL cannot revoke anything; the run's store says its driver is dead, so a worker on
    the same host neither saves the outputs of the running nodes nor starts the queued one."""
    worker = _celery(held, workers, redis_url, queue_name)
    held.start("celery_redis")

    held.driver.send_signal(signal.SIGKILL)
    held.finish(timeout=30)
    held.release.touch()

    wait_for(lambda: worker.output().count("Refusing") >= 3, 60, "three refusals")
    output = " ".join(worker.output().split())
    assert output.count(f"{OUTPUTS_REFUSED} 'hold_") == 2
    assert "Refusing step 'hold_" in output  # the queued one never starts
    assert "its kedro run process died" in output
    assert len(held.started()) == 2
    assert hook_calls(held.hook_log, "after_node_run") == []
    assert held.written() == []


def test_a_killed_dask_worker_fails_its_node_instead_of_running_it_again(
    held: HeldRun, dask_scheduler: str
) -> None:
    held.configure("dask_scheduler", {"dask": {"address": dask_scheduler}})
    held.start("dask_scheduler")
    victim = hook_calls(held.hook_log, "before_node_run")[0]
    os.kill(victim["pid"], signal.SIGKILL)  # its nanny starts a new worker; dask re-runs the task
    # Released at once: the queued third node may reach a worker before the re-run does, and
    # it must not hold that worker (the re-run is refused whenever it arrives).
    held.release.touch()
    workers_log = held.tmp_path / "workers.log"
    wait_for(lambda: "delivered a second time" in workers_log.read_text(), 120, "a refused re-run")

    assert held.finish() != 0
    output = held.output()
    assert f"dask re-ran step '{victim['node']}' after losing a worker" in output, output
    assert "dask worker tcp://127.0.0.1:" in output  # the lost worker, named
    assert held.started().count(victim["node"]) == 1
    assert f"held_{victim['node'][-1]}.json" not in held.written()


def test_a_lost_redis_ends_the_run_naming_it_and_nothing_is_written_after(
    held: HeldRun, workers: list[Background], queue_name: str
) -> None:
    """Broker and result backend on a Redis of the test's own, killed in the middle of a run."""
    port = free_port()
    redis = Background(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        held.tmp_path, held.env, held.tmp_path / "redis.log",
    )  # fmt: skip
    try:
        wait_for_port(port, 30)
        worker = _celery(
            held, workers, f"redis://127.0.0.1:{port}", queue_name, lost_worker_timeout=5
        )
        held.start("celery_redis")

        os.killpg(redis.process.pid, signal.SIGKILL)

        assert held.finish() != 0
        output = held.output()
        assert f"Lost the Celery result backend at 127.0.0.1:{port}" in output or (
            f"Lost the Celery broker at 127.0.0.1:{port}" in output
        ), output
        held.release.touch()  # the nodes still running on the worker return now
        _refused_outputs(worker.output, 2)
        assert held.written() == []
        os.killpg(worker.process.pid, signal.SIGKILL)  # without a broker it ignores SIGTERM
    finally:
        redis.stop()


def test_a_lost_dask_scheduler_ends_the_run_naming_it_and_nothing_is_written_after(
    held: HeldRun, dask_cluster: DaskCluster
) -> None:
    held.configure("dask_scheduler", {"dask": {"address": dask_cluster.address}})
    held.start("dask_scheduler")

    os.killpg(dask_cluster.scheduler.process.pid, signal.SIGKILL)

    assert held.finish() != 0
    assert f"dask cancelled the run's tasks on {dask_cluster.address}" in held.output()
    held.release.touch()  # the nodes still running on the workers return now
    _refused_outputs(dask_cluster.workers.output, 2)
    assert held.written() == []
