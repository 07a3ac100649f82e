"""The executor-kind registry: what each kind declares, and a kind added as one module + one entry.

The ``threads`` kind below is the worked example of docs/architecture.md ("Adding an executor
kind"): a module defining the kind, plus its line in the registry (here, ``monkeypatch``).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import ClassVar

import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline, node

from kedro_dagster_runner import DagsterRunner, executors
from kedro_dagster_runner.config import resolve_config
from kedro_dagster_runner.errors import ConfigError
from kedro_dagster_runner.executors import KINDS, InstanceNeed, NodesRun, RunContext, kind_named
from kedro_dagster_runner.executors.launcher import FutureLauncher, NodeLauncher
from kedro_dagster_runner.executors.options import ConcurrentOptions
from kedro_dagster_runner.executors.package_kind import PackageExecutorKind
from kedro_dagster_runner.spec import NodeSpec, RunSpec
from kedro_dagster_runner.workers.outcome import StepOutcome
from kedro_dagster_runner.workers.step import run_step

# --- the example kind: nodes on a thread pool of the kedro run process ---------------------


class ThreadsOptions(ConcurrentOptions):
    """Nodes on threads of the kedro run process."""


class ThreadLauncher(FutureLauncher):  # FutureLauncher keeps the futures and lost workers
    def __init__(self, spec: RunSpec, options: ThreadsOptions) -> None:
        super().__init__(spec, max_concurrent=options.max_concurrent or 4)
        self._pool = ThreadPoolExecutor(self.max_concurrent, thread_name_prefix="kedro-node")

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _submit(self, op_name: str) -> Future[StepOutcome]:
        return self._pool.submit(run_step, self._spec, op_name)

    def _wait(self, futures: list[Future[StepOutcome]], timeout: float) -> set[Future[StepOutcome]]:
        return wait(futures, timeout=timeout, return_when=FIRST_COMPLETED).done

    def _lost(self, op_name: str, error: Exception) -> str:
        return f"the thread running step '{op_name}' failed outside the node: {error!r}"


class ThreadsKind(PackageExecutorKind[ThreadsOptions]):
    name = "threads"
    description = "nodes on threads of the kedro run process"
    options_model = ThreadsOptions
    nodes_run: ClassVar[NodesRun] = NodesRun.DRIVER

    def make_launcher(self, spec: RunSpec, options: ThreadsOptions) -> NodeLauncher:
        return ThreadLauncher(spec, options)


# --- tests ------------------------------------------------------------------------------------

THREADS_SEEN: dict[str, str] = {}


def _traced(name: str):
    def function(value: int) -> int:
        THREADS_SEEN[name] = threading.current_thread().name
        return value + 1

    function.__name__ = name
    return function


@pytest.fixture
def threads_kind(monkeypatch: pytest.MonkeyPatch) -> ThreadsKind:
    kind = ThreadsKind()
    monkeypatch.setitem(executors._REGISTRY, kind.name, kind)  # the registry line
    return kind


def test_a_kind_added_as_a_module_and_a_registry_entry_runs_a_pipeline(
    threads_kind: ThreadsKind,
) -> None:
    THREADS_SEEN.clear()
    pipeline = Pipeline(
        [
            node(_traced("left"), "seed", "a", name="left"),
            node(_traced("right"), "seed", "b", name="right"),
            node(lambda a, b: a + b, ["a", "b"], "total", name="join"),
        ]
    )
    catalog = DataCatalog({"seed": MemoryDataset(1)})

    result = DagsterRunner(executor="threads", max_concurrent=2).run(pipeline, catalog)

    assert result["total"].load() == 4
    assert set(THREADS_SEEN) == {"left", "right"}
    assert all(name.startswith("kedro-node") for name in THREADS_SEEN.values())


def test_an_added_kind_is_validated_and_listed_like_the_others(threads_kind: ThreadsKind) -> None:
    assert resolve_config({"runner": {"executor": "threads"}}).executor.kind == "threads"
    with pytest.raises(ConfigError, match=r"executors\.t\.threads\.max_concurrent"):
        resolve_config(
            {"executors": {"t": {"threads": {"max_concurrent": 0}}}, "runner": {"executor": "t"}}
        )
    with pytest.raises(ConfigError, match="threads") as error:
        resolve_config({"runner": {"executor": "warp"}})
    assert "allowed:" in str(error.value)


def test_every_kind_declares_what_the_package_asks_of_it() -> None:
    assert list(KINDS) == [
        "in_process",
        "multiprocess",
        "dagster_in_process",
        "dagster_multiprocess",
        "dask",
        "celery",
        "docker",
        "k8s",
        "dagster_dask",
        "dagster_celery",
        "celery_docker",
        "celery_k8s",
    ]
    spec = RunSpec("r", "kedro_default", [NodeSpec("n", "n", [], [])], "x", handoff_uri="/tmp/s")
    for name, kind in KINDS.items():
        assert kind.name == name and kind.description
        defaults = kind.options_model.model_fields
        assert "retries" in defaults, name
        if kind.launches_runs:
            assert kind.instance_need is InstanceNeed.SHARED, name
        if kind.nodes_run is NodesRun.DRIVER:
            assert kind.instance_need is InstanceNeed.ANY, name
        if not any(field.is_required() for field in defaults.values()):  # else: an image
            options = kind.parse({}).model_dump(exclude_none=True)
            config = kind.run_config(options, spec, RunContext())
            assert isinstance(config, dict), name


def test_only_container_kinds_launch_runs_and_name_a_run_launcher() -> None:
    launching = {name for name, kind in KINDS.items() if kind.launches_runs}
    assert launching == {"docker", "k8s"}
    with pytest.raises(ConfigError, match="cannot launch runs"):
        kind_named("multiprocess").run_launcher({}, None, RunContext())  # type: ignore[arg-type]


def test_importing_the_runner_and_its_configuration_does_not_import_dagster() -> None:
    """The multiprocess pool starts before the driver imports Dagster, so that the two overlap
    (docs/performance.md); every kind module and the configuration must stay free of it."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from kedro_dagster_runner import DagsterRunner\n"
        "import kedro_dagster_runner.executors, kedro_dagster_runner.config\n"
        "import kedro_dagster_runner.driver.plan, kedro_dagster_runner.driver.job_selection\n"
        "print(sorted(m for m in sys.modules if m == 'dagster' or m.startswith('dagster.')))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert completed.stdout.strip().splitlines()[-1] == "[]"


def test_the_pool_forks_only_while_that_is_safe(monkeypatch) -> None:
    """Default start method: Kedro's KEDRO_MP_CONTEXT when set; fork (as Kedro's ParallelRunner)
    before Dagster is imported and when no variable is kept from workers; else forkserver."""
    import subprocess
    import sys

    from kedro_dagster_runner.executors.multiprocess import default_start_method
    from kedro_dagster_runner.spec import RunSpec

    spec = RunSpec(run_id="r", job_name="j", nodes=[], executor_kind="multiprocess")
    monkeypatch.setenv("KEDRO_MP_CONTEXT", "spawn")
    assert default_start_method(spec) == "spawn"
    monkeypatch.delenv("KEDRO_MP_CONTEXT")
    import dagster  # noqa: F401  (a process that has imported Dagster, as this one)

    assert default_start_method(spec) == "forkserver"

    script = (
        "import os\n"
        "from kedro_dagster_runner.executors.multiprocess import default_start_method\n"
        "from kedro_dagster_runner.spec import RunSpec\n"
        "spec = RunSpec('r', 'j', [], 'multiprocess', private_env_names=['KDR_SECRET'])\n"
        "before = default_start_method(spec)\n"
        "os.environ['KDR_SECRET'] = 'x'\n"
        "print(before, default_start_method(spec))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("KEDRO_MP_CONTEXT", "KDR_SECRET")}
    completed = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    expected = (
        "fork" if sys.platform.startswith("linux") and sys.version_info < (3, 14) else "forkserver"
    )
    assert completed.stdout.split()[-2:] == [expected, "forkserver"]
