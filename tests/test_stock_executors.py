"""Options of Dagster's stock dask and Celery executors as kinds: their own config shapes,
checked before any node runs; secrets kept out of the run config; queues from Kedro tags."""

from __future__ import annotations

import pytest

from kedro_dagster_runner.config import resolve_config
from kedro_dagster_runner.errors import ConfigError
from kedro_dagster_runner.executors import RunContext, kind_named
from kedro_dagster_runner.spec import NodeSpec, RunSpec


def _resolved(kind: str, **options: object) -> dict:
    return resolve_config({"executors": {"chosen": {kind: options}},
                           "runner": {"executor": "chosen"}}).executor.options  # fmt: skip


def _spec() -> RunSpec:
    return RunSpec("run", "kedro_default", [NodeSpec("n", "n", [], ["x"])], "dagster_dask")


def test_dagster_dask_takes_dagster_dasks_cluster_config_as_written() -> None:
    kind = kind_named("dagster_dask")
    default = kind.run_config(_resolved("dagster_dask"), _spec(), RunContext())
    assert default == {"cluster": {"local": {}}}
    existing = {"existing": {"address": "tcp://127.0.0.1:8786"}}
    options = _resolved("dagster_dask", cluster=existing)
    assert kind.run_config(options, _spec(), RunContext()) == {"cluster": existing}
    slurm = _resolved("dagster_dask", cluster={"slurm": {"cores": 8, "memory": "16GB"}})
    assert kind.run_config(slurm, _spec(), RunContext())["cluster"]["slurm"]["cores"] == 8


@pytest.mark.parametrize(
    ("cluster", "message"),
    [
        ({"local": {}, "existing": {"address": "x"}}, "exactly one cluster type"),
        ({"mesos": {}}, "unknown cluster type 'mesos'"),
        ({"existing": {}}, "cluster.existing needs the scheduler's address"),
    ],
)
def test_a_bad_dagster_dask_cluster_is_refused_naming_the_key(cluster: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        _resolved("dagster_dask", cluster=cluster)
    assert "executors.chosen.dagster_dask.cluster" in str(error.value)


def test_dagster_dask_refuses_retries_it_cannot_do() -> None:
    with pytest.raises(ConfigError, match="dagster-dask's executor does not retry steps"):
        _resolved("dagster_dask", retries=True)


def test_dagster_celery_config_holds_no_password_and_routes_tags_to_queues() -> None:
    kind = kind_named("dagster_celery")
    options = _resolved(
        "dagster_celery",
        broker="amqp://user:s3cret@broker:5672//",
        backend="redis://127.0.0.1:6379/1",
        include=["my_project.tasks"],
        config_source={"worker_prefetch_multiplier": 1},
        queues={"gpu": "gpu-queue"},
        default_queue="kedro",
    )
    config = kind.run_config(options, _spec(), RunContext())
    assert config == {
        "broker": {"env": "KEDRO_DAGSTER_DAGSTER_CELERY_BROKER"},
        "backend": "redis://127.0.0.1:6379/1",
        "include": ["my_project.tasks"],
        "config_source": {"worker_prefetch_multiplier": 1},
        "retries": {"disabled": {}},
    }
    assert "s3cret" not in str(config)
    assert kind.secret_variables(options) == {
        "KEDRO_DAGSTER_DAGSTER_CELERY_BROKER": "amqp://user:s3cret@broker:5672//"
    }
    gpu = NodeSpec("train", "train", [], [], tags=["gpu", "training"])
    assert kind.op_tags(options, gpu) == {"dagster-celery/queue": "gpu-queue"}
    assert kind.op_tags(options, NodeSpec("n", "n", [], [])) == {"dagster-celery/queue": "kedro"}


def test_celery_docker_config_is_dagster_celery_dockers_with_the_docker_kinds_mounts() -> None:
    from kedro_dagster_runner.spec import ProjectSpec

    kind = kind_named("celery_docker")
    options = resolve_config(
        {
            "executors": {
                "fleet": {
                    "celery_docker": {
                        "broker": "redis://:pw@127.0.0.1:6379/0",
                        "docker": {"image": "spaceflights:1", "env_vars": ["API_TOKEN"]},
                        "queues": {"gpu": "gpu-queue"},
                    }
                }
            },
            "runner": {"executor": "fleet", "instance": {"postgres": {"db_name": "d"}}},
        }
    ).executor.options
    spec = RunSpec(
        "2024-01-01T00.00.00.000Z", "kedro_default", [NodeSpec("n", "n", [], ["x"])],
        "celery_docker", handoff_uri="/srv/handoff/run-1",
        project=ProjectSpec("/srv/project", "spaceflights", None, None),
    )  # fmt: skip

    config = kind.run_config(options, spec, RunContext(env_names=("DAGSTER_PG_PASSWORD",)))

    assert config["broker"] == {"env": "KEDRO_DAGSTER_CELERY_DOCKER_BROKER"}
    assert "pw@" not in str(config)
    docker = config["docker"]
    assert docker["image"] == "spaceflights:1" and docker["network"] == "host"
    assert docker["env_vars"] == ["API_TOKEN", "DAGSTER_PG_PASSWORD"]
    kwargs = docker["container_kwargs"]
    assert kwargs["volumes"] == ["/srv/project:/srv/project", "/srv/handoff:/srv/handoff"]
    assert kwargs["labels"] == {"org.kedro-dagster-runner.run": spec.run_id}
    assert kwargs["environment"] == {"KEDRO_DISABLE_TELEMETRY": "true"}
    gpu = NodeSpec("train", "train", [], [], tags=["gpu"])
    assert kind.op_tags(options, gpu) == {"dagster-celery/queue": "gpu-queue"}
    with pytest.raises(ConfigError, match=r"executors\.fleet\.celery_docker\.docker\.image"):
        resolve_config(
            {"executors": {"fleet": {"celery_docker": {"docker": {}}}},
             "runner": {"executor": "fleet", "instance": {"postgres": {"db_name": "d"}}}}
        )  # fmt: skip
