"""dagster.yml validation and --runner-params overrides (no project needed)."""

from __future__ import annotations

import pytest

from kedro_dagster_runner.config import resolve_config
from kedro_dagster_runner.errors import ConfigError, MissingExtraError

SEED_FILE = {
    "executors": {
        "sequential": {"in_process": None},
        "local_pool": {"multiprocess": {"max_concurrent": 4, "retries": {"enabled": {}}}},
    },
    "runner": {"executor": "local_pool"},
}


def test_no_file_means_in_process_on_an_ephemeral_instance() -> None:
    resolved = resolve_config(None)

    assert resolved.executor.kind == "in_process"
    assert resolved.runner.instance == "ephemeral"
    assert resolved.runner.handoff is None


def test_named_executor_from_the_seed_format() -> None:
    resolved = resolve_config(SEED_FILE)

    assert (resolved.executor.name, resolved.executor.kind) == ("local_pool", "multiprocess")
    assert resolved.executor.options == {"max_concurrent": 4, "retries": True}
    # no start_method: the pool chooses when it starts (fork where safe, else forkserver)


def test_runner_params_override_runner_keys_and_executor_options() -> None:
    resolved = resolve_config(SEED_FILE, {"max_concurrent": 2, "start_method": "forkserver"})
    assert resolved.executor.options["max_concurrent"] == 2
    assert resolved.executor.options["start_method"] == "forkserver"

    resolved = resolve_config(SEED_FILE, {"executor": "sequential", "dagster_logs": "info"})
    assert resolved.executor.kind == "in_process"
    assert resolved.runner.dagster_logs == "info"


def test_bare_kind_and_dagster_selector_forms() -> None:
    resolved = resolve_config(
        {"runner": {"executor": "dagster_multiprocess"}},
        {"start_method": {"forkserver": {}}, "retries": False},
    )
    assert resolved.executor.options["start_method"] == "forkserver"
    assert resolved.executor.options["retries"] is False


def test_kedro_dagster_sections_are_ignored() -> None:
    raw = {**SEED_FILE, "jobs": {"default": {"pipeline": {}}}, "schedules": {}, "sensors": {}}
    assert resolve_config(raw).executor.kind == "multiprocess"


def test_unknown_executor_names_the_file_key_and_allowed_values() -> None:
    with pytest.raises(ConfigError) as error:
        resolve_config(SEED_FILE, {"executor": "turbo"}, source="conf/base/dagster.yml")

    message = str(error.value)
    assert "conf/base/dagster.yml" in message
    assert "runner.executor: 'turbo'" in message
    for allowed in ("sequential", "local_pool", "in_process", "multiprocess", "dask", "k8s"):
        assert allowed in message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"executors": {"x": {"warp": {}}}}, "executors.x: unknown executor kind 'warp'"),
        ({"executors": {"x": {"in_process": {}, "multiprocess": {}}}}, "executors.x: expected"),
        (
            {
                "executors": {"x": {"multiprocess": {"max_concurent": 2}}},
                "runner": {"executor": "x"},
            },
            "executors.x.multiprocess.max_concurent: unknown key (did you mean max_concurrent?)",
        ),
        (
            {
                "executors": {"x": {"multiprocess": {"start_method": "vfork"}}},
                "runner": {"executor": "x"},
            },
            "executors.x.multiprocess.start_method",
        ),
        ({"runner": {"instance": "cloud"}}, "runner.instance"),
        ({"runnr": {}}, "runnr: unknown key (did you mean runner?)"),
    ],
)
def test_invalid_content_is_reported_with_its_key_path(raw: dict, expected: str) -> None:
    with pytest.raises(ConfigError, match="Invalid DagsterRunner configuration") as error:
        resolve_config(raw)
    assert expected in str(error.value)


def test_missing_integration_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from kedro_dagster_runner.executors import kind_named
    from kedro_dagster_runner.executors.base import Extra

    monkeypatch.setattr(kind_named("dask"), "extra", Extra("dask", "no_such_dagster_dask"))

    with pytest.raises(MissingExtraError, match=r"pip install 'kedro-dagster-runner\[dask\]'"):
        resolve_config({"runner": {"executor": "dask"}})


def test_distributed_executor_options_are_validated() -> None:
    resolved = resolve_config({"runner": {"executor": "dask"}}, {"address": "tcp://h:8786"})
    assert resolved.executor.options["address"] == "tcp://h:8786"

    with pytest.raises(ConfigError, match=r"celery\).broker"):
        resolve_config({"runner": {"executor": "celery"}}, {"broker": "http://nope"})


def test_passwords_in_urls_are_masked() -> None:
    from kedro_dagster_runner.config import mask_url, masked_options

    assert mask_url("amqp://guest:secret@127.0.0.1:5672//") == "amqp://guest:***@127.0.0.1:5672//"
    assert mask_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    options = masked_options({"broker": "redis://:pw@h:6379/0", "max_concurrent": 2})
    assert options == {"broker": "redis://:***@h:6379/0", "max_concurrent": 2}


def test_nodes_go_to_the_queue_of_their_first_mapped_tag() -> None:
    from kedro_dagster_runner.executors.celery import queue_for

    queues = {"gpu": "gpu_queue", "big": "big_queue"}
    assert queue_for(["training", "gpu"], queues, "kedro") == "gpu_queue"
    assert queue_for(["big", "gpu"], queues, "kedro") == "big_queue"
    assert queue_for(["other"], queues, "kedro") == "kedro"


DETACHED_FILE = {
    "executors": {
        "local_pool": {"multiprocess": {"max_concurrent": 2}},
        "containers": {"docker": {"image": "project:1"}},
        "cluster": {"k8s": {"image": "project:1", "kubeconfig_file": "/kube.yaml"}},
    },
    "runner": {
        "executor": "local_pool",
        "instance": {"postgres": {"db_name": "runs"}},
        "submit": "detached",
        "launcher": "containers",
    },
}


def test_detached_run_takes_its_launcher_from_a_container_executor_entry() -> None:
    resolved = resolve_config(DETACHED_FILE, {"wait": True})
    assert resolved.runner.wait is True
    assert resolved.executor.kind == "multiprocess"
    assert (resolved.launcher.name, resolved.launcher.kind) == ("containers", "docker")
    assert resolved.launcher.options["image"] == "project:1"

    on_cluster = resolve_config(DETACHED_FILE, {"executor": "cluster", "launcher": None})
    assert on_cluster.launcher == on_cluster.executor  # a container executor launches itself

    attached = resolve_config(SEED_FILE)
    assert attached.runner.submit == "attached" and attached.launcher is None
    debugging = resolve_config(DETACHED_FILE, {"submit": "attached"})  # wait/launcher unused
    assert debugging.launcher is None


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"instance": "ephemeral"}, "runner.submit: detached runs are recorded in"),
        ({"launcher": None}, "runner.launcher: a detached run on the 'multiprocess' executor"),
        ({"launcher": "local_pool"}, "'local_pool' is not a docker or k8s executor"),
        ({"instance": "dagster_home"}, "the run launcher is the one in $DAGSTER_HOME"),
        ({"submit": "later"}, "runner.submit: Input should be 'attached' or 'detached'"),
    ],
)
def test_detached_misconfiguration_names_the_key_to_fix(overrides: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        resolve_config(DETACHED_FILE, overrides)
    assert expected in str(error.value)


def test_detached_runs_carry_dagsters_retry_priority_and_runtime_tags() -> None:
    resolved = resolve_config(
        DETACHED_FILE, {"run_retries": 2, "run_priority": -1, "max_runtime": "3600"}
    )
    assert resolved.runner.detached_run_tags() == {
        "dagster/max_retries": "2",
        "dagster/priority": "-1",
        "dagster/max_runtime": "3600",
    }
    with pytest.raises(ConfigError, match=r"runner\.run_retries"):
        resolve_config(DETACHED_FILE, {"run_retries": 0})
