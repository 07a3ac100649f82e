"""A node of a run that has ended never starts and never writes; a node delivered twice never
runs twice (the run store's end marker and step leases, used by remote workers)."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from kedro_dagster_runner import leftovers
from kedro_dagster_runner.errors import DuplicateStepError, RunEndedError
from kedro_dagster_runner.workers.outcome import StepOutcome
from kedro_dagster_runner.workers.step import run_published_step
from kedro_dagster_runner.workers.store import DirectoryStore


def _store(tmp_path: Path) -> DirectoryStore:
    store = DirectoryStore(str(tmp_path / "run-1"))
    store.write_spec("{}")
    return store


def test_a_removed_store_refuses_writes_and_is_not_recreated(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.save("early", [1])
    assert not store.ended()

    store.remove()

    assert store.ended()
    with pytest.raises(RunEndedError, match="its run has ended"):
        store.save("late", [2])
    with pytest.raises(RunEndedError):
        store.claim_step("op", "worker b")
    assert not (tmp_path / "run-1").exists()


def test_a_store_being_removed_is_ended_before_it_is_gone(tmp_path: Path) -> None:
    store = _store(tmp_path)
    (tmp_path / "run-1" / "_ended").write_bytes(b"")  # what remove() writes first

    assert store.ended()
    with pytest.raises(RunEndedError):
        store.save("late", [2])


def test_a_store_whose_driver_process_died_is_ended(tmp_path: Path) -> None:
    store = _store(tmp_path)
    claim = "from kedro_dagster_runner.leftovers import claim; import sys; claim(sys.argv[1])"
    subprocess.run([sys.executable, "-c", claim, str(tmp_path / "run-1")], check=True)

    assert store.ended()  # the process that claimed it (a SIGKILL-ed driver) has exited
    leftovers.claim(tmp_path / "run-1")
    assert not DirectoryStore(store.uri).ended()  # claimed by this live process


def test_a_step_of_an_ended_run_is_refused_with_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = _store(tmp_path)
    store.remove()

    with caplog.at_level(logging.WARNING, logger="kedro_dagster_runner"):
        outcome = run_published_step(store.uri, "train", worker="Celery worker w1")

    assert not outcome.ok
    assert outcome.failure.short_class == "RunEndedError"
    assert "Refusing step 'train': its run has ended" in caplog.text
    assert not (tmp_path / "run-1").exists()


def test_the_first_worker_is_named_apart_from_its_host_and_pid(tmp_path: Path) -> None:
    store = _store(tmp_path)
    assert store.claim_step("train", "celery@w1 (host h, pid 1)") is None

    with pytest.raises(DuplicateStepError) as info:
        run_published_step(store.uri, "train", worker="celery@w2")

    assert info.value.first_worker == "celery@w1"


def test_a_step_is_claimed_once(tmp_path: Path) -> None:
    store = _store(tmp_path)

    assert store.claim_step("train", "worker a") is None
    assert store.claim_step("train", "worker b") == "worker a"
    assert store.claim_step("score", "worker b") is None


def test_a_second_delivery_of_an_unfinished_step_is_refused_naming_the_first_worker(
    tmp_path: Path,
) -> None:
    store = _store(tmp_path)
    store.claim_step("train", "dask worker tcp://127.0.0.1:4001")

    with pytest.raises(
        DuplicateStepError, match=r"first delivery, to dask worker tcp://127\."
    ) as info:
        run_published_step(store.uri, "train", worker="dask worker tcp://127.0.0.1:4002")
    assert info.value.first_worker == "dask worker tcp://127.0.0.1:4001"


def test_a_second_delivery_of_a_finished_step_returns_its_first_outcome(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.claim_step("train", "worker a")
    first = StepOutcome("train", 12.5, materialized={"model": {"rows": 3}})
    store.record_outcome(first)

    assert run_published_step(store.uri, "train", worker="worker b") == first


def test_a_node_failed_as_lost_is_claimed_so_a_late_delivery_never_runs_it(
    tmp_path: Path,
) -> None:
    from kedro_dagster_runner.executors.launcher import NodeLauncher
    from kedro_dagster_runner.spec import NodeSpec, RunSpec

    store = _store(tmp_path)
    spec = RunSpec(
        run_id="r1",
        job_name="kedro_default",
        nodes=[NodeSpec(name="train", op_name="train", inputs=[], outputs=[])],
        executor_kind="celery",
        handoff_uri=store.uri,
    )

    class Launcher(NodeLauncher):  # the base class's bookkeeping only
        def _start(self, op_name: str) -> None: ...

        def running(self) -> int:
            return 0

        def finished(self, timeout: float) -> list[StepOutcome]:
            return []

    launcher = Launcher(spec, max_concurrent=1)
    launcher.launch("train")
    outcome = launcher.worker_lost("train", "no answer from celery@w1")

    assert outcome.failure.short_class == "WorkerLostError"
    with pytest.raises(DuplicateStepError, match="failed as lost"):
        run_published_step(store.uri, "train", worker="celery@w2")  # the queued task, later
