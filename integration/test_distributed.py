"""dask and Celery executors against real services: same outputs, hooks in workers, clean failures.

Backends: a dask LocalCluster started by the run, an external dask scheduler with two workers,
Celery workers on a Redis broker and on a RabbitMQ broker (started with the plugin's
`kedro dagster-runner celery-worker` command).
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import (
    Background,
    start_celery_worker,
    start_dagster_celery_worker,
    write_dagster_yml,
)
from kedro_projects import RUNNER, KedroRunner, persisted_outputs, processes_with_env

BACKENDS = [
    "dask_local", "dask_scheduler", "celery_redis", "celery_rabbitmq",
    # Dagster's stock executors (dagster-dask, dagster-celery with `dagster-celery worker start`)
    "dagster_dask_local", "dagster_dask_scheduler", "dagster_celery_redis",
    "dagster_celery_rabbitmq",
]  # fmt: skip
Configure = Callable[[Path], str]


@pytest.fixture(params=BACKENDS)
def configure(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    worker_env: dict[str, str],
    queue_name: str,
) -> Iterator[Configure]:
    """A function that points a project's dagster.yml at the backend (starting its workers)
    and returns the executor name to pass to --runner-params."""
    workers: list[Background] = []
    backend = request.param

    def setup(project: Path) -> str:
        executors: dict[str, dict] = {"serial": {"in_process": {}}}
        if backend.startswith("dagster_"):
            executors[backend] = _stock_executor(request, backend, queue_name)
            write_dagster_yml(project, executors)
            if backend.startswith("dagster_celery"):
                log = tmp_path / f"dagster-celery-{len(workers)}.log"
                entry = executors[backend]["dagster_celery"]
                workers.append(start_dagster_celery_worker(project, entry, worker_env, log))
            return backend
        if backend == "dask_local":
            executors[backend] = {"dask": {"n_workers": 2}}
        elif backend == "dask_scheduler":
            address = request.getfixturevalue("dask_scheduler")
            executors[backend] = {"dask": {"address": address}}
        else:
            broker, backend_url = (
                (request.getfixturevalue("redis_url") + "/0", "redis://127.0.0.1:6379/1")
                if backend == "celery_redis"
                else (request.getfixturevalue("rabbitmq_url"), "rpc://")
            )
            executors[backend] = {
                "celery": {"broker": broker, "backend": backend_url, "default_queue": queue_name}
            }
        write_dagster_yml(project, executors)
        if backend.startswith("celery"):
            log = tmp_path / f"celery-{len(workers)}.log"
            workers.append(start_celery_worker(project, backend, worker_env, log))
        return backend

    yield setup
    for worker in workers:
        worker.stop()


def _stock_executor(request: pytest.FixtureRequest, backend: str, queue_name: str) -> dict:
    if backend == "dagster_dask_local":
        return {"dagster_dask": {"cluster": {"local": {"n_workers": 2, "threads_per_worker": 1}}}}
    if backend == "dagster_dask_scheduler":
        address = request.getfixturevalue("dask_scheduler")
        return {"dagster_dask": {"cluster": {"existing": {"address": address}}}}
    broker, backend_url = (
        (request.getfixturevalue("redis_url") + "/2", "redis://127.0.0.1:6379/3")
        if backend == "dagster_celery_redis"
        else (request.getfixturevalue("rabbitmq_url"), "rpc://")
    )
    return {"dagster_celery": {"broker": broker, "backend": backend_url,
                               "default_queue": queue_name}}  # fmt: skip


MARKER = "KDR_TEST_RUN"


def _helper_processes(marker: str) -> set[int]:
    """Live processes started by this test's run (pool workers, a local dask cluster)."""
    return processes_with_env(MARKER, marker)


def _handoff_dirs(temp_root: Path) -> set[str]:
    return {str(path) for path in temp_root.glob("kedro-dagster-handoff-*")}


def test_example_outputs_equal_sequential_runner(
    configure: Configure, example: tuple[Path, KedroRunner], tmp_path: Path
) -> None:
    from kedro_projects import EXAMPLE_PROJECT, copy_project, kedro_runner

    project, run = example
    reference_project = copy_project(EXAMPLE_PROJECT, tmp_path / "reference")
    reference = kedro_runner(reference_project, tmp_path)()
    assert reference.returncode == 0, reference.output
    executor = configure(project)
    marker, temp_root = uuid.uuid4().hex, tmp_path / "run-tmp"
    temp_root.mkdir()
    before = (_helper_processes(marker), _handoff_dirs(temp_root))

    result = run(
        "--runner", RUNNER, "--runner-params", f"executor={executor}",
        env={MARKER: marker, "TMPDIR": str(temp_root)},
    )  # fmt: skip

    assert result.returncode == 0, result.output
    expected, actual = persisted_outputs(reference_project), persisted_outputs(project)
    assert len(expected) == 7
    assert actual == expected
    deadline = time.monotonic() + 15  # a local cluster may take a moment to exit
    while _helper_processes(marker) - before[0] and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _helper_processes(marker) - before[0] == set(), "worker processes left behind"
    assert _handoff_dirs(temp_root) - before[1] == set(), "handoff data left behind"


def test_node_hooks_fire_in_the_workers(
    configure: Configure, demo: tuple[Path, KedroRunner], worker_env: dict[str, str]
) -> None:
    project, run = demo
    executor = configure(project)

    result = run(
        "--runner", RUNNER, "--runner-params", f"executor={executor}",
        hook_log=Path(worker_env["DEMO_HOOK_LOG"]),
    )  # fmt: skip

    assert result.returncode == 0, result.output
    driver = result.driver_pid
    assert [c["pid"] for c in result.calls("after_pipeline_run")] == [driver]
    node_pid = {c["node"]: c["pid"] for c in result.calls("before_node_run")}
    assert len(node_pid) == 8
    assert driver not in node_pid.values()
    for call in result.hooks:
        if "node" in call:
            assert call["pid"] == node_pid[call["node"]], call
    assert Counter(c["hook"] for c in result.hooks)["after_node_run"] == 8
    save_versions = {c["save_version"] for c in result.calls("after_catalog_created")}
    assert save_versions == {result.run_id}
    assert {c["host"] for c in result.hooks}  # recorded: pid and hostname of each call


def test_grouped_nodes_run_together_on_one_worker(
    configure: Configure, demo: tuple[Path, KedroRunner], worker_env: dict[str, str]
) -> None:
    """runner.group_nodes=namespace: each namespace is one task on the backend, its nodes run
    in one worker process in Kedro's order, hooks per node as usual."""
    project, run = demo
    executor = configure(project)

    result = run(
        "--runner", RUNNER, "--runner-params", f"executor={executor},group_nodes=namespace",
        hook_log=Path(worker_env["DEMO_HOOK_LOG"]),
    )  # fmt: skip

    assert result.returncode == 0, result.output
    starts = result.calls("before_node_run")
    assert sorted(c["node"] for c in starts) == sorted(
        ["double", "first.shift", "first.sum", "second.shift", "second.sum", "spread",
         "summarise", "make_report"]
    )  # fmt: skip
    where = {c["node"]: (c["host"], c["pid"]) for c in starts}
    for namespace in ("first", "second"):
        assert where[f"{namespace}.shift"] == where[f"{namespace}.sum"]
        order = [c["node"] for c in starts if c["node"].startswith(f"{namespace}.")]
        assert order == [f"{namespace}.shift", f"{namespace}.sum"]
    assert result.driver_pid not in {pid for _, pid in where.values()}
    assert Counter(c["hook"] for c in result.hooks)["after_node_run"] == 8
    assert "Completed 8 out of 8 tasks" in " ".join(result.output.split())


def test_failing_node_fails_the_run_cleanly(
    configure: Configure, demo: tuple[Path, KedroRunner], worker_env: dict[str, str]
) -> None:
    project, run = demo
    executor = configure(project)

    result = run(
        "--runner", RUNNER, "--runner-params", f"executor={executor}", "--pipelines", "failing",
        hook_log=Path(worker_env["DEMO_HOOK_LOG"]),
    )  # fmt: skip

    assert result.returncode != 0
    # the node's own exception, caused by the worker's traceback, as under ParallelRunner
    assert result.output.rstrip().endswith("ValueError: explode refused 8 values")
    assert "Node 'explode' raised in process" in result.output
    assert '--from-nodes "explode"' in result.output
    (node_error,) = result.calls("on_node_error")
    assert node_error["pid"] != result.driver_pid
    (pipeline_error,) = result.calls("on_pipeline_error")
    assert pipeline_error["pid"] == result.driver_pid
    assert pipeline_error["error"] == "ValueError"


def test_a_plain_python_run_ships_its_pipeline_to_dask_workers(tmp_path: Path) -> None:
    """No project, no session: the nodes and catalog travel to the dask workers pickled, as
    Kedro's ParallelRunner sends them to its processes (builtins as node functions, so that the
    workers import nothing of the test)."""
    from kedro.io import DataCatalog, MemoryDataset
    from kedro.pipeline import Pipeline, node

    from kedro_dagster_runner import DagsterRunner

    pipeline = Pipeline(
        [
            node(sorted, "seed", "ordered", name="order"),
            node(len, "ordered", "count", name="count"),
            node(sum, "ordered", "total", name="total"),
        ]
    )
    catalog = DataCatalog({"seed": MemoryDataset([3, 1, 2])})

    result = DagsterRunner(executor="dask", n_workers=2, handoff=str(tmp_path)).run(
        pipeline, catalog
    )

    assert (result["count"].load(), result["total"].load()) == (3, 6)
    assert list(tmp_path.iterdir()) == []  # the run's store was removed


def test_a_flaky_node_is_retried_on_the_workers(
    configure: Configure, demo: tuple[Path, KedroRunner], worker_env: dict[str, str]
) -> None:
    """A retry policy from dagster.yml: the node fails twice on a worker, Dagster retries it,
    and the retry is a new delivery (not refused as a duplicate by the step lease)."""
    import yaml

    project, run = demo
    executor = configure(project)
    path = project / "conf" / "base" / "dagster.yml"
    config = yaml.safe_load(path.read_text())
    config["retry_policies"] = {"flaky": {"max_retries": 2, "tags": ["flaky"]}}
    path.write_text(yaml.safe_dump(config))

    result = run(
        "--runner", RUNNER, "--runner-params", f"executor={executor}", "--pipelines", "retried",
        hook_log=Path(worker_env["DEMO_HOOK_LOG"]),
    )  # fmt: skip

    output = " ".join(result.output.split())
    if executor.startswith("dagster_dask"):  # dagster-dask's executor never retries: said so
        assert result.returncode != 0
        assert f"retry_policies are not applied: the '{executor}' executor" in output
        assert (project / "data" / "out" / "fail_twice.count").read_text() == "1"
        return
    assert result.returncode == 0, result.output
    assert (project / "data" / "out" / "fail_twice.count").read_text() == "3"
    assert [c["node"] for c in result.calls("on_node_error")] == ["fail_twice"] * 2
    assert all(c["pid"] != result.driver_pid for c in result.calls("on_node_error"))
    assert "(retry 2 of 2)" in output
