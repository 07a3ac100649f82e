"""``multiprocess``: a pool of warm local worker processes for the run.

Each worker rebuilds the Kedro context once, when it starts, then runs node after node; workers
never build the Dagster job or touch the instance.

Start method (``start_method``, default: :func:`default_start_method`): as Kedro's
ParallelRunner, ``fork`` on Linux (Python < 3.14) unless ``KEDRO_MP_CONTEXT`` names another:
workers inherit the driver's loaded Kedro and project, so they start about 0.6 s sooner than
from a forkserver here. The package forks only while that is safe: the pool must start before
the driver imports Dagster (whose threads a fork would copy mid-flight), and the driver's
environment must hold no variable kept from workers (a forked worker's ``/proc/<pid>/environ``
is the driver's). Otherwise ``forkserver``, whose server imports Kedro once.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.util
import os
import sys
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from kedro_dagster_runner import _compat, leftovers
from kedro_dagster_runner.environment import withheld
from kedro_dagster_runner.executors.base import ExecutorOptions, NodesRun
from kedro_dagster_runner.executors.launcher import FutureLauncher, NodeLauncher
from kedro_dagster_runner.executors.options import (
    ConcurrentOptions,
    PositiveCount,
    max_concurrent_field,
    unpack_start_method,
)
from kedro_dagster_runner.executors.package_kind import PackageExecutorKind
from kedro_dagster_runner.spec import RunSpec
from kedro_dagster_runner.workers.driver_watch import exit_with_driver
from kedro_dagster_runner.workers.outcome import StepOutcome
from kedro_dagster_runner.workers.runtime import runtime_for, spec_at
from kedro_dagster_runner.workers.step import run_published_step

# Modules the forkserver imports once so that each worker starts with Kedro already loaded.
FORKSERVER_PRELOAD = (
    "kedro_dagster_runner.workers.step",
    "kedro.framework.session",
    "kedro.runner",
)


class MultiprocessOptions(ConcurrentOptions):
    """A pool of warm worker processes; each rebuilds the Kedro context once, then runs nodes."""

    max_concurrent: PositiveCount | None = max_concurrent_field(
        "Worker processes (default: the number of CPUs, at most the pipeline's width)"
    )
    start_method: Literal["forkserver", "spawn", "fork"] | None = Field(
        default=None,
        description="How workers start (default: fork where safe, else forkserver; see the "
        "module's docstring).",
    )
    preload_modules: list[str] | None = Field(
        default=None, description="Extra modules the forkserver imports once (forkserver only)."
    )

    _selector = model_validator(mode="before")(lambda cls, v: unpack_start_method(v))


def _init_pool_worker(store_uri: str, environment: dict[str, str], driver_pid: int) -> None:
    """Pool initializer: leave with the driver, take its environment, read the run spec and warm
    the Kedro context before the first node.

    A worker exits as soon as the driver process ends, even when the driver is killed and cannot
    stop its pool (:func:`~kedro_dagster_runner.workers.driver_watch.exit_with_driver`).

    A forkserver (or spawn) child starts with the environment of the process that started the
    forkserver, which in a notebook or service may be an earlier run's; Kedro's ParallelRunner
    forks, so its workers see the driver's environment as it is when the run starts. Workers
    here get that snapshot too, without the instance's password (workers never open the
    instance).
    """
    exit_with_driver(driver_pid)
    os.environ.clear()
    os.environ.update(environment)
    os.environ["KEDRO_DISABLE_TELEMETRY"] = "true"
    with contextlib.suppress(Exception):  # reported as the failure of each node it is given
        runtime_for(spec_at(store_uri))


_WARM_POOLS: dict[str, ProcessPoolExecutor] = {}
"""Pools started by :meth:`MultiprocessKind.warm_up`, by run store URI, until a launcher takes
its run's."""


def _ready() -> None:
    """The task that makes a pool start a worker (its initializer does the work)."""


@contextmanager
def _warm_pool(spec: RunSpec, options: MultiprocessOptions) -> Iterator[None]:
    """Start the run's pool and its workers' Kedro contexts now; the run's launcher takes the
    pool, or it is closed when the block ends."""
    pool = PoolLauncher(spec, options).start_pool()
    _WARM_POOLS[spec.handoff_uri or ""] = pool
    interrupted = True
    try:
        yield
        interrupted = False
    finally:
        left = _WARM_POOLS.pop(spec.handoff_uri or "", None)
        if left is not None:
            _close(left, interrupted)


def _close(pool: ProcessPoolExecutor, interrupted: bool) -> None:
    """Shut ``pool`` down; ``interrupted``: terminate its workers instead of waiting for them."""
    if interrupted:
        for process in _compat.pool_processes(pool):
            process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


_KEDRO_MP_CONTEXT = "KEDRO_MP_CONTEXT"


def default_start_method(spec: RunSpec) -> str:
    """The start method of a pool whose options name none: ``KEDRO_MP_CONTEXT`` when set (the
    variable Kedro's ParallelRunner reads), else ``fork`` where Kedro's ParallelRunner forks
    (Linux, Python < 3.14) and forking is safe now (Dagster not imported yet, no variable of
    ``spec.private_env_names`` in the environment), else ``forkserver``."""
    chosen = os.environ.get(_KEDRO_MP_CONTEXT)
    if chosen in multiprocessing.get_all_start_methods():
        return chosen
    safe = "dagster" not in sys.modules and not any(
        name in os.environ for name in spec.private_env_names
    )
    if sys.platform.startswith("linux") and sys.version_info < (3, 14) and safe:
        return "fork"
    return "forkserver"


class PoolLauncher(FutureLauncher):
    """A pool of long-lived local worker processes for one run."""

    def __init__(self, spec: RunSpec, options: MultiprocessOptions) -> None:
        # As Kedro's ParallelRunner: no more workers than nodes can run at once.
        wanted = options.max_concurrent or os.cpu_count() or 1
        super().__init__(spec, max_concurrent=max(1, min(wanted, spec.parallel_width())))
        self._start_method = options.start_method or default_start_method(spec)
        self._preload = (*FORKSERVER_PRELOAD, *(options.preload_modules or ()))
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> PoolLauncher:
        self._pool = _WARM_POOLS.pop(self._spec.handoff_uri or "", None) or self.start_pool()
        return self

    def start_pool(self) -> ProcessPoolExecutor:
        """A pool for the run, its workers starting now (each rebuilds the Kedro context)."""
        # The pool's sockets and semaphores live in multiprocessing's per-process temp dir.
        leftovers.claim(multiprocessing.util.get_temp_dir())
        context = multiprocessing.get_context(self._start_method)
        if self._start_method == "forkserver":
            context.set_forkserver_preload(list(self._preload))
        # The pool's semaphores start multiprocessing's resource tracker, and each submit here a
        # worker (the forkserver first), with the environment of the moment: never with the
        # instance's password.
        with withheld(self._spec.private_env_names):
            pool = ProcessPoolExecutor(
                max_workers=self.max_concurrent,
                mp_context=context,
                initializer=_init_pool_worker,
                initargs=(self._spec.handoff_uri, self._worker_environment(), os.getpid()),
            )
            for _ in range(self.max_concurrent):
                pool.submit(_ready)
        return pool

    def _worker_environment(self) -> dict[str, str]:
        hidden = set(self._spec.private_env_names)
        return {name: value for name, value in os.environ.items() if name not in hidden}

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:  # interrupted or crashed: do not wait for running nodes
            _close(pool, interrupted=exc_type is not None)

    def _submit(self, op_name: str) -> Future[StepOutcome]:
        if self._pool is None:
            raise RuntimeError("PoolLauncher.launch called outside its with block")
        # A submit starts a worker while the pool has fewer than it may (start_pool started
        # them all, unless one finished warming up before the next was asked for); never with
        # the instance's password. A pool never delivers a node twice: no lease.
        spawning = len(_compat.pool_processes(self._pool)) < self.max_concurrent
        try:
            with withheld(self._spec.private_env_names) if spawning else nullcontext():
                return self._pool.submit(
                    run_published_step, self._spec.handoff_uri, op_name, None, False
                )
        except BrokenProcessPool as error:  # a worker died (e.g. while warming up): the step's
            broken: Future[StepOutcome] = Future()  # outcome says so, as for a running node
            broken.set_exception(error)
            return broken

    def _wait(self, futures: list[Future[StepOutcome]], timeout: float) -> set[Future[StepOutcome]]:
        return wait(futures, timeout=timeout, return_when=FIRST_COMPLETED).done

    def _lost(self, op_name: str, error: Exception) -> str:
        if not isinstance(error, BrokenProcessPool):
            return f"The worker process running step '{op_name}' sent no outcome: {error!r}"
        return (
            f"The worker process running step '{op_name}' died unexpectedly (killed, out of "
            "memory, a crash in native code, or it could not start because the driver's "
            "__main__ module cannot be imported, e.g. under `python -c`); the pool cannot go on."
        )


class MultiprocessKind(PackageExecutorKind[MultiprocessOptions]):
    name = "multiprocess"
    description = "a pool of warm local worker processes (fork where safe, else forkserver)"
    options_model = MultiprocessOptions
    nodes_run: ClassVar[NodesRun] = NodesRun.LOCAL_PROCESSES
    runs_shipped_pipelines: ClassVar[bool] = True

    def make_launcher(self, spec: RunSpec, options: MultiprocessOptions) -> NodeLauncher:
        return PoolLauncher(spec, options)

    def warm_up(self, options: ExecutorOptions, spec: RunSpec) -> AbstractContextManager[None]:
        """Start the pool and its workers' Kedro contexts before the driver imports Dagster."""
        return _warm_pool(spec, self.parse(options))


KIND = MultiprocessKind()
