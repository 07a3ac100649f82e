"""Faults provoked for real on remote executors: Ctrl-C of `kedro run`, a killed Celery worker, a
killed dask worker. A node of a run that has ended never starts and never writes; a node is
never run twice; a lost worker fails its node with a message naming it.

Each test uses the demo project's `held` pipeline: three nodes that block until a release file
exists, then write `data/out/held_<x>.json`. Processes are the test's own (its workers, its
driver); files are under its tmp_path.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import Background, start_celery_worker, write_dagster_yml
from kedro_projects import RUNNER, KedroRunner

HELD = ("hold_a", "hold_b", "hold_c")


def _calls(hook_log: Path, hook: str) -> list[dict]:
    if not hook_log.exists():
        return []
    lines = hook_log.read_text().splitlines()
    return [call for call in map(json.loads, filter(None, lines)) if call["hook"] == hook]


def _wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds} s waiting for {what}")
        time.sleep(0.2)


def _start_run(project: Path, executor: str, release: Path, env: dict[str, str], log: Path):
    return subprocess.Popen(
        [sys.executable, "-m", "kedro", "run", "--runner", RUNNER,
         "--runner-params", f"executor={executor}", "--pipelines", "held",
         "--params", f"release={release}"],
        cwd=project, env={**env, "COLUMNS": "250"}, stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )  # fmt: skip


def _written(project: Path) -> list[str]:
    return sorted(path.name for path in (project / "data" / "out").glob("held_*.json"))


def _celery_entry(redis_url: str, queue: str, **options: object) -> dict:
    return {
        "celery": {
            "broker": f"{redis_url}/0",
            "backend": f"{redis_url}/1",
            "default_queue": queue,
            **options,
        }
    }


@pytest.mark.parametrize("backend", ["dask_scheduler", "celery_redis"])
def test_ctrl_c_stops_remote_nodes_and_nothing_is_written_after(
    backend: str,
    request: pytest.FixtureRequest,
    demo: tuple[Path, KedroRunner],
    worker_env: dict[str, str],
    queue_name: str,
    tmp_path: Path,
) -> None:
    project, _ = demo
    hook_log, release = Path(worker_env["DEMO_HOOK_LOG"]), tmp_path / "release"
    workers: list[Background] = []
    if backend == "dask_scheduler":
        entry = {"dask": {"address": request.getfixturevalue("dask_scheduler")}}
    else:
        entry = _celery_entry(request.getfixturevalue("redis_url"), queue_name)
    write_dagster_yml(project, {"serial": {"in_process": {}}, backend: entry})
    if backend.startswith("celery"):
        workers.append(start_celery_worker(project, backend, worker_env, tmp_path / "w.log"))
    try:
        driver = _start_run(project, backend, release, worker_env, tmp_path / "run.log")
        _wait_for(lambda: len(_calls(hook_log, "before_node_run")) == 2, 120, "2 nodes running")

        driver.send_signal(signal.SIGINT)
        assert driver.wait(timeout=60) != 0
        ended = len(hook_log.read_text().splitlines())
        release.touch()  # the running nodes could now return and save their outputs

        if backend == "dask_scheduler":  # running dask tasks cannot be stopped: they return,
            # and the workers refuse their outputs
            workers_log = tmp_path / "workers.log"
            _wait_for(
                lambda: workers_log.read_text().count("Refusing the outputs of node") == 2,
                60,
                "the outputs of both running nodes to be refused",
            )
        else:  # Celery terminates the running tasks it revokes
            time.sleep(5)  # the time a node left running would need to save
        late = [json.loads(line) for line in hook_log.read_text().splitlines()[ended:]]
        assert [c for c in late if c["hook"] in ("after_node_run", "before_node_run")] == []
        assert _written(project) == []
        started = sorted(call["node"] for call in _calls(hook_log, "before_node_run"))
        assert len(started) == 2 and set(started) < set(HELD)  # the third never started
    finally:
        for worker in workers:
            worker.stop()


def test_a_killed_celery_worker_fails_its_nodes_and_a_later_worker_refuses_them(
    redis_url: str,
    demo: tuple[Path, KedroRunner],
    worker_env: dict[str, str],
    queue_name: str,
    tmp_path: Path,
) -> None:
    project, _ = demo
    hook_log, release = Path(worker_env["DEMO_HOOK_LOG"]), tmp_path / "release"
    entry = _celery_entry(redis_url, queue_name, lost_worker_timeout=3, visibility_timeout=5)
    write_dagster_yml(project, {"serial": {"in_process": {}}, "celery_redis": entry})
    first = start_celery_worker(project, "celery_redis", worker_env, tmp_path / "first.log")
    later = None
    try:
        driver = _start_run(project, "celery_redis", release, worker_env, tmp_path / "run.log")
        _wait_for(lambda: len(_calls(hook_log, "before_node_run")) == 2, 120, "2 nodes running")

        os.killpg(first.process.pid, signal.SIGKILL)  # the whole worker, as the OOM killer would
        assert driver.wait(timeout=120) != 0
        output = " ".join((tmp_path / "run.log").read_text().split())
        running = {call["node"] for call in _calls(hook_log, "before_node_run")}
        silent = [f"Celery worker celery@{os.uname().nodename}, running step '{node}', does not "
                  "answer on broker redis://127.0.0.1:6379/0" for node in running]  # fmt: skip
        assert all(f"{text}; the step fails as lost" in output for text in silent), output
        assert any(f"WorkerLostError: {text}: no answer for" in output for text in silent)

        # Redis delivers the unacknowledged tasks again after visibility_timeout (5 s); the
        # queued third one is still there: a new worker gets them and refuses each.
        release.touch()
        later = start_celery_worker(project, "celery_redis", worker_env, tmp_path / "later.log")
        _wait_for(lambda: later.output().count("its run has ended") >= 3, 90, "3 refusals")
        assert "Refusing step 'hold_" in later.output()
        assert len(_calls(hook_log, "before_node_run")) == 2  # nothing ran again
        assert _written(project) == []
    finally:
        first.stop()
        if later is not None:
            later.stop()


def test_a_killed_dask_worker_fails_its_node_instead_of_running_it_again(
    dask_scheduler: str,
    demo: tuple[Path, KedroRunner],
    worker_env: dict[str, str],
    tmp_path: Path,
) -> None:
    project, _ = demo
    hook_log, release = Path(worker_env["DEMO_HOOK_LOG"]), tmp_path / "release"
    entry = {"dask": {"address": dask_scheduler}}
    write_dagster_yml(project, {"serial": {"in_process": {}}, "dask_scheduler": entry})

    driver = _start_run(project, "dask_scheduler", release, worker_env, tmp_path / "run.log")
    _wait_for(lambda: len(_calls(hook_log, "before_node_run")) == 2, 120, "2 nodes running")
    victim = _calls(hook_log, "before_node_run")[0]
    os.kill(victim["pid"], signal.SIGKILL)  # its nanny starts a new worker; dask re-runs the task
    _wait_for(lambda: "delivered a second time" in (tmp_path / "workers.log").read_text(), 60,
              "the re-run task to be refused")  # fmt: skip
    release.touch()

    assert driver.wait(timeout=120) != 0
    output = " ".join((tmp_path / "run.log").read_text().split())
    assert f"dask re-ran step '{victim['node']}' after losing a worker" in output, output
    assert "dask worker tcp://127.0.0.1:" in output  # the lost worker, named
    runs_of_victim = [c for c in _calls(hook_log, "before_node_run") if c["node"] == victim["node"]]
    assert len(runs_of_victim) == 1
    assert f"held_{victim['node'][-1]}.json" not in _written(project)


def test_a_task_redelivered_while_its_node_runs_does_not_run_it_twice(
    redis_url: str,
    demo: tuple[Path, KedroRunner],
    worker_env: dict[str, str],
    queue_name: str,
    tmp_path: Path,
) -> None:
    """Acks-late on Redis: a node running longer than visibility_timeout has its task delivered
    again while it runs; the step lease drops the duplicate and the run goes on."""
    project, _ = demo
    hook_log, release = Path(worker_env["DEMO_HOOK_LOG"]), tmp_path / "release"
    entry = _celery_entry(redis_url, queue_name, visibility_timeout=1)
    write_dagster_yml(project, {"serial": {"in_process": {}}, "celery_redis": entry})
    worker = start_celery_worker(project, "celery_redis", worker_env, tmp_path / "w.log")
    try:
        driver = _start_run(project, "celery_redis", release, worker_env, tmp_path / "run.log")
        _wait_for(lambda: len(_calls(hook_log, "before_node_run")) == 2, 120, "2 nodes running")
        # kombu restores unacknowledged Redis messages past their visibility timeout at most
        # every 10 s; the duplicates wait for a free slot or find the node still running
        time.sleep(12)
        release.touch()

        assert driver.wait(timeout=120) == 0, (tmp_path / "run.log").read_text()
        started = sorted(call["node"] for call in _calls(hook_log, "before_node_run"))
        assert started == list(HELD)  # each node ran once
        assert _written(project) == [f"held_{name[-1]}.json" for name in HELD]
        assert "delivered a second time" in worker.output() or "delivered again" in (
            worker.output()
        )
    finally:
        worker.stop()


def test_a_lost_redis_ends_the_run_naming_it_and_nothing_is_written_after(
    demo: tuple[Path, KedroRunner],
    worker_env: dict[str, str],
    queue_name: str,
    tmp_path: Path,
) -> None:
    """Broker and result backend on a Redis of the test's own, killed in the middle of a run."""
    from conftest import free_port, wait_for_port

    project, _ = demo
    hook_log, release = Path(worker_env["DEMO_HOOK_LOG"]), tmp_path / "release"
    port = free_port()
    redis = Background(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        tmp_path, worker_env, tmp_path / "redis.log",
    )  # fmt: skip
    worker = None
    try:
        wait_for_port(port, 30)
        entry = _celery_entry(f"redis://127.0.0.1:{port}", queue_name, lost_worker_timeout=5)
        write_dagster_yml(project, {"serial": {"in_process": {}}, "own_redis": entry})
        worker = start_celery_worker(project, "own_redis", worker_env, tmp_path / "w.log")
        driver = _start_run(project, "own_redis", release, worker_env, tmp_path / "run.log")
        _wait_for(lambda: len(_calls(hook_log, "before_node_run")) == 2, 120, "2 nodes running")

        os.killpg(redis.process.pid, signal.SIGKILL)

        assert driver.wait(timeout=120) != 0
        output = " ".join((tmp_path / "run.log").read_text().split())
        assert f"Lost the Celery result backend at 127.0.0.1:{port}" in output or (
            f"Lost the Celery broker at 127.0.0.1:{port}" in output
        ), output
        release.touch()  # the nodes still running on the worker return now
        _wait_for(
            lambda: worker.output().count("Refusing the outputs of node") == 2,
            60,
            "the outputs of both running nodes to be refused",
        )
        assert _written(project) == []
    finally:
        if worker is not None:  # without its broker a Celery worker does not stop on SIGTERM
            if worker.process.poll() is None:
                os.killpg(worker.process.pid, signal.SIGKILL)
            worker.stop()
        redis.stop()


def test_a_lost_dask_scheduler_ends_the_run_naming_it_and_nothing_is_written_after(
    demo: tuple[Path, KedroRunner], worker_env: dict[str, str], tmp_path: Path
) -> None:
    """A scheduler of the test's own, killed in the middle of a run."""
    import shutil

    from conftest import free_port, wait_for_port

    project, _ = demo
    hook_log, release = Path(worker_env["DEMO_HOOK_LOG"]), tmp_path / "release"
    port, dask = free_port(), shutil.which("dask") or "dask"
    address = f"tcp://127.0.0.1:{port}"
    scheduler = Background(
        [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
         "--dashboard-address", ":0"],
        tmp_path, worker_env, tmp_path / "scheduler.log",
    )  # fmt: skip
    workers = None
    try:
        wait_for_port(port, 60)
        workers = Background(
            [dask, "worker", address, "--nworkers", "2", "--nthreads", "1", "--host",
             "127.0.0.1", "--no-dashboard", "--death-timeout", "120"],
            tmp_path, worker_env, tmp_path / "workers.log",
        )  # fmt: skip
        write_dagster_yml(
            project, {"serial": {"in_process": {}}, "own": {"dask": {"address": address}}}
        )
        driver = _start_run(project, "own", release, worker_env, tmp_path / "run.log")
        _wait_for(lambda: len(_calls(hook_log, "before_node_run")) == 2, 120, "2 nodes running")

        os.killpg(scheduler.process.pid, signal.SIGKILL)

        assert driver.wait(timeout=120) != 0
        output = " ".join((tmp_path / "run.log").read_text().split())
        assert f"dask cancelled the run's tasks on {address}" in output, output
        release.touch()  # the nodes still running on the workers return now
        _wait_for(
            lambda: workers.output().count("Refusing the outputs of node") == 2,
            60,
            "the outputs of both running nodes to be refused",
        )
        assert _written(project) == []
    finally:
        if workers is not None:
            workers.stop()
        scheduler.stop()


def test_a_killed_driver_leaves_nothing_for_celery_workers_of_its_host_to_run(
    redis_url: str,
    demo: tuple[Path, KedroRunner],
    worker_env: dict[str, str],
    queue_name: str,
    tmp_path: Path,
) -> None:
    """SIGKILL cannot revoke anything; the run's store says its driver is dead, so a worker on
    the same host neither saves the outputs of the running nodes nor starts the queued one."""
    project, _ = demo
    hook_log, release = Path(worker_env["DEMO_HOOK_LOG"]), tmp_path / "release"
    write_dagster_yml(
        project,
        {"serial": {"in_process": {}}, "celery_redis": _celery_entry(redis_url, queue_name)},
    )
    worker = start_celery_worker(project, "celery_redis", worker_env, tmp_path / "w.log")
    try:
        driver = _start_run(project, "celery_redis", release, worker_env, tmp_path / "run.log")
        _wait_for(lambda: len(_calls(hook_log, "before_node_run")) == 2, 120, "2 nodes running")

        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
        release.touch()

        _wait_for(lambda: worker.output().count("Refusing") >= 3, 60, "three refusals")
        output = " ".join(worker.output().split())
        assert output.count("Refusing the outputs of node 'hold_") == 2
        assert "Refusing step 'hold_" in output  # the queued one never starts
        assert "its kedro run process died" in output
        assert len(_calls(hook_log, "before_node_run")) == 2
        assert _calls(hook_log, "after_node_run") == []
        assert _written(project) == []
    finally:
        worker.stop()
