"""A kedro-dagster ``dagster.yml`` read as written: its executor keys (``dask_executor``,
``docker_executor``, ``k8s_job_executor``, ``celery_executor``, ...) and option shapes map to the
package's kinds; what a kind does not act on is named in a notice; an entry no kind can run is an
error only when the run selects it."""

from __future__ import annotations

import pytest

from kedro_dagster_runner.config import resolve_config
from kedro_dagster_runner.errors import ConfigError

SHARED = {"postgres": {}}  # container kinds need a shared instance

# The executors of a kedro-dagster project's dagster.yml, in kedro-dagster 0.8.1's shapes.
KEDRO_DAGSTER_EXECUTORS = {
    "sequential": {"in_process": {"retries": {"enabled": {}}}},
    "multiprocessing": {"multiprocess": {"max_concurrent": 2}},
    "dask_existing": {
        "dask_executor": {"cluster": {"existing": {"address": "tcp://10.0.0.5:8786"}}}
    },
    "dask_local": {
        "dask_executor": {"cluster": {"local": {"n_workers": 2, "memory_limit": "2GB"}}}
    },
    "dask_yarn": {"dask_executor": {"cluster": {"yarn": {"environment": "env.tar.gz"}}}},
    "docker": {
        "docker_executor": {
            "image": "spaceflights:1",
            "networks": ["host"],
            "env_vars": ["AWS_PROFILE"],
            "registry": {"url": "r.example", "username": "u", "password": "p"},
            "container_kwargs": {"volumes": ["/data:/data"], "shm_size": "1g"},
            "max_concurrent": 3,
        }
    },
    "k8s": {
        "k8s_job_executor": {
            "job_namespace": "dagster",
            "max_concurrent": 2,
            "image_pull_policy": "Always",
            "image_pull_secrets": [{"name": "regcred"}],
            "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
            "labels": {"team": "platform"},
            "step_k8s_config": {
                "container_config": {"image": "spaceflights:1"},
                "pod_spec_config": {"nodeSelector": {"pool": "cpu"}},
            },
            "per_step_k8s_config": {"train": {"container_config": {"resources": {}}}},
        }
    },
    "celery": {
        "celery_executor": {
            "broker": "redis://127.0.0.1:6379/0",
            "backend": "rpc://",
            "include": ["spaceflights.workers"],
            "retries": 2,
        }
    },
    "celery_docker": {
        "celery_docker_executor": {
            "image": "spaceflights:1",
            "broker": "redis://127.0.0.1:6379/0",
            "env_vars": ["DAGSTER_PG_PASSWORD"],
            "registry": {"url": "r.example", "username": "u", "password": "p"},
        }
    },
    "celery_k8s": {"celery_k8s_job_executor": {"job_namespace": "dagster"}},
}


def _resolve(executor: str, instance: object = "ephemeral", **sections: object):
    raw = {
        "executors": KEDRO_DAGSTER_EXECUTORS,
        "runner": {"executor": executor, "instance": instance},
        **sections,
    }
    return resolve_config(raw, source="conf/base/dagster.yml")


def _about(config, name: str) -> list[str]:
    """The notices about the entry ``name``."""
    return [line for line in config.notices if line.startswith(f"executors.{name}.")]


def test_a_file_with_every_kedro_dagster_executor_runs_the_one_it_selects() -> None:
    config = _resolve("sequential")

    assert (config.executor.kind, config.executor.options["retries"]) == ("in_process", True)
    # the entries no kind can run are named, without failing the run
    assert any(
        "executors.celery_k8s.celery_k8s_job_executor cannot be selected" in line
        for line in config.notices
    ), config.notices
    assert not any(line.startswith("executors.docker") for line in config.notices)


def test_dask_executor_clusters_map_to_the_dask_kind() -> None:
    existing = _resolve("dask_existing").executor
    assert (existing.kind, existing.options["address"]) == ("dask", "tcp://10.0.0.5:8786")

    local = _resolve("dask_local")
    assert (local.executor.kind, local.executor.options["n_workers"]) == ("dask", 2)
    assert "address" not in local.executor.options
    assert _about(local, "dask_local") == [
        "executors.dask_local.dask_executor: not acted on by the dask executor: "
        "cluster.local.memory_limit (the local cluster takes n_workers and threads_per_worker)"
    ]


def test_docker_executor_options_map_and_the_rest_is_named() -> None:
    config = _resolve("docker", SHARED)
    options = config.executor.options

    assert config.executor.kind == "docker"
    assert (options["image"], options["network"], options["max_concurrent"]) == (
        "spaceflights:1",
        "host",
        3,
    )
    assert options["env_vars"] == ["AWS_PROFILE"]
    assert options["volumes"] == ["/data:/data"]
    (notice,) = _about(config, "docker")
    assert "registry" in notice and "container_kwargs.shm_size" in notice
    assert "'p'" not in notice and "password" not in notice  # keys only, never values


def test_k8s_job_executor_options_map_and_raw_kubernetes_settings_are_named() -> None:
    config = _resolve("k8s", SHARED)
    options = config.executor.options

    assert config.executor.kind == "k8s"
    assert options["image"] == "spaceflights:1"
    assert options["namespace"] == "dagster"
    assert options["image_pull_secrets"] == ["regcred"]
    assert options["default_resources"] == {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {}}
    assert options["labels"] == {"team": "platform"}
    (notice,) = _about(config, "k8s")
    assert "per_step_k8s_config" in notice and "step_k8s_config.pod_spec_config" in notice


def test_celery_executor_keeps_broker_and_backend_and_names_the_worker_app_settings() -> None:
    config = _resolve("celery")

    assert config.executor.kind == "celery"
    assert config.executor.options["broker"] == "redis://127.0.0.1:6379/0"
    assert config.executor.options["backend"] == "rpc://"
    (notice,) = _about(config, "celery")
    assert "include" in notice and "retries" in notice


def test_celery_executor_without_a_broker_uses_dagster_celerys_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DAGSTER_CELERY_BROKER_HOST", "rabbit.internal")
    raw = {"executors": {"c": {"celery_executor": {}}}, "runner": {"executor": "c"}}

    options = resolve_config(raw).executor.options

    assert options["broker"] == "pyamqp://guest@rabbit.internal//"
    assert options["backend"] == "rpc://"


@pytest.mark.parametrize(
    ("executor", "expected"),
    [
        ("celery_k8s", "executors.celery_k8s.celery_k8s_job_executor: no image: set "
         "step_k8s_config.container_config.image to the project image"),
        ("dask_yarn", "executors.dask_yarn.dask_executor: cluster type 'yarn'"),
    ],
)  # fmt: skip
def test_selecting_an_entry_no_kind_can_run_names_it_and_the_way_out(
    executor: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as error:
        _resolve(executor, SHARED)

    message = str(error.value)
    assert message.startswith("Invalid DagsterRunner configuration in conf/base/dagster.yml:")
    assert expected in message


def test_values_in_env_vars_are_refused_naming_the_variable_not_its_value() -> None:
    raw = {
        "executors": {"d": {"docker_executor": {"image": "p:1", "env_vars": ["TOKEN=s3cret"]}}},
        "runner": {"executor": "d", "instance": SHARED},
    }
    with pytest.raises(ConfigError) as error:
        resolve_config(raw)

    assert "executors.d.docker_executor: env_vars sets values in dagster.yml (TOKEN)" in str(
        error.value
    )
    assert "s3cret" not in str(error.value)


def test_an_option_of_the_wrong_type_names_the_key_as_written() -> None:
    raw = {
        "executors": {"m": {"dask_executor": {"cluster": {"local": {"n_workers": "many"}}}}},
        "runner": {"executor": "m"},
    }
    with pytest.raises(ConfigError, match=r"executors\.m\.dask_executor\.n_workers"):
        resolve_config(raw)


def test_unknown_kinds_list_kedro_dagsters_keys_too() -> None:
    raw = {"executors": {"x": {"dask_exector": {}}}, "runner": {"executor": "x"}}
    with pytest.raises(ConfigError) as error:
        resolve_config(raw)

    assert "unknown executor kind 'dask_exector' (did you mean dask_executor?)" in str(error.value)
    assert "kedro-dagster's dask_executor, celery_executor, docker_executor, k8s_job_executor" in (
        str(error.value)
    )


def test_sections_nothing_uses_are_named_once() -> None:
    config = _resolve("sequential", dev={"port": 3000}, definitions={"x": 1})

    assert "dagster.yml: definitions, dev not used by kedro-dagster-runner" in config.notices


def test_an_entry_merged_from_two_environments_says_so() -> None:
    """conf/base and conf/<env> both declaring `dask_local`, with different kinds, merge into
    one entry with two kinds."""
    raw = {
        "executors": {"dask_local": {"dask": {}, "dask_executor": {}}},
        "runner": {"executor": "dask_local"},
    }
    with pytest.raises(ConfigError, match="several environments are merged"):
        resolve_config(raw)


def test_celery_docker_executor_maps_to_dagster_celery_dockers_shape() -> None:
    config = _resolve("celery_docker", SHARED)

    assert config.executor.kind == "celery_docker"
    options = config.executor.options
    assert options["broker"] == "redis://127.0.0.1:6379/0"
    assert options["docker"]["image"] == "spaceflights:1"
    assert options["docker"]["env_vars"] == ["DAGSTER_PG_PASSWORD"]
    assert _about(config, "celery_docker") == [
        "executors.celery_docker.celery_docker_executor: not acted on by the celery_docker "
        "executor: registry (images are not pulled: load the image on the workers' host)"
    ]


def test_celery_k8s_job_executor_maps_to_the_celery_k8s_kind() -> None:
    entry = {
        "celery_k8s_job_executor": {
            "job_namespace": "dagster",
            "step_k8s_config": {"container_config": {"image": "spaceflights:1"}},
            "broker": "redis://127.0.0.1:6379/0",
            "job_wait_timeout": 600,
        }
    }
    config = resolve_config(
        {"executors": {"celery_k8s": entry}, "runner": {"executor": "celery_k8s",
                                                        "instance": SHARED}}
    )  # fmt: skip

    options = config.executor.options
    assert config.executor.kind == "celery_k8s"
    assert (options["image"], options["namespace"]) == ("spaceflights:1", "dagster")
    assert (options["broker"], options["job_wait_timeout"]) == ("redis://127.0.0.1:6379/0", 600)
