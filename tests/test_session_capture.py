"""The plugin hook records each run's session data, whatever Kedro release or session class."""

from __future__ import annotations

import threading
from types import SimpleNamespace

from kedro_dagster_runner.driver.session_capture import SessionCapture


def _context(who: str) -> SimpleNamespace:
    loader = SimpleNamespace(conf_source=f"/p/{who}/conf")
    return SimpleNamespace(
        project_path=f"/p/{who}",
        env=None,
        config_loader=loader,
        _package_name="pkg",
        _runtime_params={"who": who},
    )


def test_concurrent_service_session_runs_keep_their_own_params() -> None:
    """A KedroServiceSession serving two requests: each thread creates its context, then fires
    before_pipeline_run; neither run may get the other's --params or pipelines."""
    capture = SessionCapture()
    a_created, b_done = threading.Event(), threading.Event()

    def run_a() -> None:
        capture.after_context_created(_context("a"))
        a_created.set()
        b_done.wait()
        capture.before_pipeline_run(
            {"run_id": "A", "pipeline_names": ["pa"], "runtime_params": {"who": "a"}}
        )

    def run_b() -> None:
        a_created.wait()
        capture.after_context_created(_context("b"))
        capture.before_pipeline_run(
            {"run_id": "B", "pipeline_names": ["pb"], "runtime_params": {"who": "b"}}
        )
        b_done.set()

    threads = [threading.Thread(target=run_a), threading.Thread(target=run_b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    a, b = capture.for_run("A"), capture.for_run("B")
    assert a is not None and b is not None
    assert (a.runtime_params, a.pipeline_names, a.project_path) == ({"who": "a"}, ["pa"], "/p/a")
    assert (b.runtime_params, b.pipeline_names, b.project_path) == ({"who": "b"}, ["pb"], "/p/b")


def test_kedro_1_0_run_params_name_the_run_session_id_and_one_pipeline() -> None:
    capture = SessionCapture()
    capture.after_context_created(_context("old"))
    capture.before_pipeline_run({"session_id": "S", "pipeline_name": "only", "load_versions": {}})

    recorded = capture.for_run("S")
    assert recorded is not None and recorded.pipeline_names == ["only"]
    assert recorded.runtime_params == {"who": "old"}  # from the context: not in run_params


def test_runs_of_other_runners_leave_nothing_behind() -> None:
    """A service running many sessions with Kedro's own runners: nothing accumulates per run."""
    capture = SessionCapture()
    for index in range(3):
        capture.after_context_created(_context(str(index)))
        params = {"run_id": f"R{index}", "pipeline_names": None}
        capture.before_pipeline_run(params)
        if index % 2:
            capture.on_pipeline_error(params)
        else:
            capture.after_pipeline_run(params)

    assert capture._by_run_id == {}
