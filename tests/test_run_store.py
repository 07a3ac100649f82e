"""The run store carries the spec and node failures; executor secrets stay out of run config."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from kedro_dagster_runner.config import resolve_config
from kedro_dagster_runner.errors import ConfigError, RemoteNodeError
from kedro_dagster_runner.executors import RunContext, kind_named
from kedro_dagster_runner.executors.base import resolve_env_references
from kedro_dagster_runner.spec import NodeSpec, RunSpec
from kedro_dagster_runner.workers.outcome import NodeFailure, StepOutcome
from kedro_dagster_runner.workers.runtime import NodeRuntime
from kedro_dagster_runner.workers.store import DirectoryStore, create_live_store, open_store


class CodedError(Exception):
    """Pickles, but its __init__ does not take its args back: unpickling raises TypeError."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"[{code}] {message}")


def _raise(error: BaseException) -> BaseException:
    try:
        raise error
    except BaseException as raised:
        return raised


def test_an_exception_that_does_not_unpickle_comes_back_with_its_type(tmp_path: Path) -> None:
    error = _raise(CodedError(7, "bad row"))
    with pytest.raises(TypeError):  # what pickle's default reduce does when it loads it
        CodedError(*error.args)
    store = DirectoryStore(str(tmp_path / "run"))
    store.write_spec("{}")  # a store exists once its run is published

    store.record_failure(NodeFailure.from_exception("load", _raise(ValueError("attempt 1"))))
    store.record_failure(NodeFailure.from_exception("load", error))  # the last attempt's wins
    store.record_failure(NodeFailure.worker_lost("load", "later"), replace=False)

    record = store.failure("load")
    assert record is not None
    assert type(record.exception) is CodedError and str(record.exception) == "[7] bad row"
    assert record.exception_class == f"{__name__}.CodedError"
    assert "raise error" in record.traceback
    assert store.failure("other") is None


@contextmanager
def _importable_for_a_while(module_name: str, class_name: str) -> Iterator[type[Exception]]:
    """An exception class importable only inside the block (as in a worker), not after it (as
    in a driver that cannot import it)."""
    import sys
    import types

    module = types.ModuleType(module_name)
    exec(f"class {class_name}(Exception):\n    pass\n", module.__dict__)
    error_class = getattr(module, class_name)
    error_class.__module__ = module_name
    sys.modules[module_name] = module
    try:
        yield error_class
    finally:
        del sys.modules[module_name]


def test_an_exception_whose_class_is_not_importable_leaves_a_readable_record(
    tmp_path: Path,
) -> None:
    store = DirectoryStore(str(tmp_path / "run"))
    store.write_spec("{}")  # a store exists once its run is published
    with _importable_for_a_while("vanishing_module", "VanishingError") as vanishing_error:
        store.record_failure(NodeFailure.from_exception("load", _raise(vanishing_error("gone"))))

    record = store.failure("load")
    assert record is not None and record.exception is None
    assert record.message == "gone" and "raise error" in record.traceback
    stand_in = record.stand_in()
    assert isinstance(stand_in, RemoteNodeError) and "VanishingError: gone" in str(stand_in)


def test_a_picklable_exception_comes_back_with_its_type(tmp_path: Path) -> None:
    store = DirectoryStore(str(tmp_path / "run"))
    store.write_spec("{}")  # a store exists once its run is published
    store.record_failure(NodeFailure.from_exception("n", _raise(KeyError("missing"))))

    record = store.failure("n")
    assert isinstance(record.exception, KeyError) and record.exception.args == ("missing",)


def test_the_live_store_keeps_the_exception_object_and_is_reachable_by_uri() -> None:
    runtime = NodeRuntime(nodes={}, catalog=None, hook_manager=None)  # type: ignore[arg-type]
    store = create_live_store("2026-01-01T00.00.00.000Z", runtime)
    error = _raise(CodedError(1, "x"))
    try:
        store.write_spec("{}")
        store.record_failure(NodeFailure.from_exception("n", error))

        assert open_store(store.uri) is store
        assert store.failure("n").exception is error
    finally:
        store.remove()
    with pytest.raises(Exception, match="lives in the memory of the kedro run process"):
        open_store(store.uri)


def test_outcomes_cross_processes_as_json_without_the_exception() -> None:
    failure = NodeFailure.from_exception("n", _raise(ValueError("no")))
    outcome = StepOutcome("n", 12.5, failure, logs=[(20, "hello")])

    back = StepOutcome.from_json_dict(outcome.to_json_dict())

    assert back.failure == failure.portable() and back.failure.exception is None
    assert back.logs == [(20, "hello")] and back.duration_ms == 12.5
    info = back.failure.error_info()
    assert info.cls_name == "ValueError" and "ValueError: no" in info.to_string()


def test_broker_passwords_reach_the_executor_by_environment_not_run_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broker = "amqp://guest:s3cret@127.0.0.1:5672//"
    options = resolve_config(
        {"runner": {"executor": "celery"}}, {"broker": broker}
    ).executor.options
    kind = kind_named("celery")
    spec = RunSpec("r", "kedro_default", [NodeSpec("n", "n", [], [])], "celery", handoff_uri="/s")

    run_config = kind.run_config(options, spec, RunContext())
    secrets = kind.secret_variables(options)

    assert "s3cret" not in repr(run_config)
    assert run_config["broker"] == {"env": "KEDRO_DAGSTER_CELERY_BROKER"}
    assert run_config["backend"] == "redis://127.0.0.1:6379/1"  # no credentials: kept as is
    assert secrets == {"KEDRO_DAGSTER_CELERY_BROKER": broker}
    monkeypatch.delenv("KEDRO_DAGSTER_CELERY_BROKER", raising=False)
    with pytest.raises(ConfigError, match="KEDRO_DAGSTER_CELERY_BROKER, which is not set"):
        resolve_env_references(run_config, "celery")
    monkeypatch.setenv("KEDRO_DAGSTER_CELERY_BROKER", broker)
    assert resolve_env_references(run_config, "celery")["broker"] == broker
    assert os.environ["KEDRO_DAGSTER_CELERY_BROKER"] == broker


def test_an_exception_not_rebuilt_keeps_the_workers_traceback(tmp_path: Path) -> None:
    import dataclasses
    import logging

    from kedro_dagster_runner.driver.progress import RunProgress
    from kedro_dagster_runner.driver.report import run_error
    from kedro_dagster_runner.errors import NodeFailedError, RemoteTraceback
    from kedro_dagster_runner.spec import NodeSpec, RunSpec

    store = DirectoryStore(str(tmp_path / "run"))

    store.write_spec("{}")  # a store exists once its run is published
    with _importable_for_a_while("worker_only_module", "WorkerOnlyError") as worker_only_error:
        failure = NodeFailure.from_exception("n", _raise(worker_only_error("boom")))
        store.record_failure(dataclasses.replace(failure, pid=1, host="worker-host"))
    spec = RunSpec("r", "kedro_default", [NodeSpec("node_a", "n", [], [])], "multiprocess")
    progress = RunProgress(spec, logging.getLogger("test"), failed=["n"])

    error = run_error(spec, progress, store, "FAILURE", None)

    assert isinstance(error, NodeFailedError)
    assert str(error) == "Node 'node_a' failed: WorkerOnlyError: boom"
    assert isinstance(error.original, RemoteNodeError)
    remote = error.original.__cause__
    assert isinstance(remote, RemoteTraceback)
    assert "Node 'node_a' raised in process 1 on worker-host" in remote.text
    assert "raise error" in remote.text
