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
    secret_env = {"image": "i", "container_kwargs": {"environment": {"DB_PASSWORD": "x"}}}
    with pytest.raises(ConfigError, match=r"docker\.container_kwargs.*docker\.env_vars"):
        resolve_config(
            {"executors": {"fleet": {"celery_docker": {"docker": secret_env}}},
             "runner": {"executor": "fleet", "instance": {"postgres": {"db_name": "d"}}}}
        )  # fmt: skip
    with pytest.raises(ConfigError, match=r"executors\.fleet\.celery_docker\.docker\.image"):
        resolve_config(
            {"executors": {"fleet": {"celery_docker": {"docker": {}}}},
             "runner": {"executor": "fleet", "instance": {"postgres": {"db_name": "d"}}}}
        )  # fmt: skip


def _celery_k8s_options(**options: object) -> dict:
    entry = {"image": "spaceflights:1", "kubeconfig_file": "/srv/kubeconfig", **options}
    return resolve_config(
        {"executors": {"cluster": {"celery_k8s": entry}},
         "runner": {"executor": "cluster", "instance": {"postgres": {"db_name": "d"}}}}
    ).executor.options  # fmt: skip


def test_celery_k8s_configs_pass_dagster_celery_k8s_schemas_and_hold_no_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import dagster
    from dagster._config import process_config
    from dagster_celery_k8s import CeleryK8sRunLauncher

    from kedro_dagster_runner.job import build_job

    kind = kind_named("celery_k8s")
    options = _celery_k8s_options(
        broker="redis://:s3cret@127.0.0.1:6379/0",
        backend="redis://127.0.0.1:6379/1",
        env_secrets=["dagster-pg"],
        mount_project=True,
        resources={"training": {"limits": {"cpu": "1"}}},
        queues={"training": "big"},
    )
    spec = RunSpec(
        "2024-01-01T00.00.00.000Z", "kedro_default",
        [NodeSpec("fit", "fit", [], ["model"], tags=["training"]), NodeSpec("n", "n", [], ["x"])],
        "celery_k8s", handoff_uri="/srv/handoff/run-1",
    )  # fmt: skip

    config = kind.run_config(options, spec, RunContext())
    launcher = kind.instance_run_launcher(options, spec)

    assert "s3cret" not in str(config) + str(launcher)
    assert (
        config["broker"]
        == launcher["config"]["broker"]
        == {"env": "KEDRO_DAGSTER_CELERY_K8S_BROKER"}
    )
    for variable, value in kind.secret_variables(options).items():
        monkeypatch.setenv(variable, value)  # as the run exports them
    job = build_job(spec.to_json())
    assert dagster.validate_run_config(job, {"execution": {"config": config}})
    checked = process_config(CeleryK8sRunLauncher.config_type(), launcher["config"])
    assert checked.success, checked.errors
    steps = config["per_step_k8s_config"]
    assert steps["fit"]["container_config"]["resources"] == {"limits": {"cpu": "1"}}
    assert steps["n"]["container_config"]["env"] == [
        {"name": "KEDRO_DISABLE_TELEMETRY", "value": "true"}
    ]
    assert config["volume_mounts"] == [{"name": "kedro-host-path-0", "mount_path": "/srv/handoff"}]
    assert kind.op_tags(options, spec.nodes[0]) == {"dagster-celery/queue": "big"}


def test_celery_k8s_refuses_variables_passed_by_name() -> None:
    with pytest.raises(ConfigError, match=r"celery_k8s\.env_vars.*env_secrets"):
        _celery_k8s_options(env_vars=["API_TOKEN"])


def test_celery_docker_config_passes_dagster_celery_dockers_schema() -> None:
    import dagster

    from kedro_dagster_runner.job import build_job

    options = resolve_config(
        {"executors": {"fleet": {"celery_docker": {"docker": {"image": "spaceflights:1"}}}},
         "runner": {"executor": "fleet", "instance": {"postgres": {"db_name": "d"}}}}
    ).executor.options  # fmt: skip
    spec = RunSpec("r", "kedro_default", [NodeSpec("n", "n", [], ["x"])], "celery_docker",
                   handoff_uri="/srv/handoff/run-1")  # fmt: skip
    config = kind_named("celery_docker").run_config(options, spec, RunContext())
    assert dagster.validate_run_config(build_job(spec.to_json()), {"execution": {"config": config}})


def test_celery_k8s_runs_are_not_detached() -> None:
    entry = {"image": "spaceflights:1", "kubeconfig_file": "/srv/kubeconfig"}
    with pytest.raises(ConfigError, match=r"runner\.submit: the 'celery_k8s' executor"):
        resolve_config(
            {"executors": {"cluster": {"celery_k8s": entry}},
             "runner": {"executor": "cluster", "submit": "detached",
                        "instance": {"postgres": {"db_name": "d"}}}}
        )  # fmt: skip
