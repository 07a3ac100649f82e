"""``dask``: nodes on dask.distributed, a local cluster started for the run or a scheduler's.

Each dask worker process rebuilds the Kedro context once per run (cached) and then runs node
after node; the orchestrator records the Dagster events. Workers must see the project at the
same path and the run's store (local temp dir by default; set ``runner.handoff`` to a shared path
or fsspec URI for workers on other machines).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from kedro_dagster_runner.environment import withheld
from kedro_dagster_runner.errors import DagsterRunnerError, DuplicateStepError
from kedro_dagster_runner.executors.base import Adopted, Extra, NodesRun
from kedro_dagster_runner.executors.kedro_dagster_shapes import adopt
from kedro_dagster_runner.executors.launcher import FutureLauncher, NodeLauncher
from kedro_dagster_runner.executors.options import (
    ConcurrentOptions,
    PositiveCount,
    PositiveNumber,
    max_concurrent_field,
)
from kedro_dagster_runner.executors.package_kind import PackageExecutorKind
from kedro_dagster_runner.spec import RunSpec
from kedro_dagster_runner.workers.outcome import StepOutcome
from kedro_dagster_runner.workers.step import run_published_step

if TYPE_CHECKING:
    from distributed import Client, Future, LocalCluster


UNLIMITED = 10_000


class DaskOptions(ConcurrentOptions):
    """dask.distributed: a local cluster for the run, or an existing scheduler's workers."""

    address: str | None = Field(
        default=None, description="Scheduler address, e.g. tcp://127.0.0.1:8786 (default: local)."
    )
    n_workers: PositiveCount | None = Field(
        default=None, description="Worker processes of the local cluster (default: CPUs)."
    )
    threads_per_worker: PositiveCount = 1
    max_concurrent: PositiveCount | None = max_concurrent_field(
        "Nodes submitted at once (default: no limit; dask queues)"
    )
    connect_timeout: PositiveNumber = 30.0


def run_on_dask_worker(store_uri: str, op_name: str) -> StepOutcome:
    """The dask task of one node: :func:`run_published_step`, its lease naming this worker.

    dask re-runs a task whose worker was lost; the lease turns that into a
    :class:`~kedro_dagster_runner.errors.DuplicateStepError` naming the lost worker instead of
    running the node a second time.
    """
    from distributed import get_worker

    try:
        worker = f"dask worker {get_worker().address}"
    except ValueError:  # not in a worker (a synchronous scheduler)
        worker = "dask task"
    return run_published_step(store_uri, op_name, worker=worker)


class DaskLauncher(FutureLauncher):
    """Submits one dask task per node."""

    def __init__(self, spec: RunSpec, options: DaskOptions) -> None:
        super().__init__(spec, max_concurrent=options.max_concurrent or UNLIMITED)
        self._options = options
        self._client: Client | None = None
        self._cluster: LocalCluster | None = None

    def __enter__(self) -> DaskLauncher:
        from distributed import Client, LocalCluster

        quiet = logging.getLogger("distributed")
        if quiet.level == logging.NOTSET:  # dask's cluster chatter, unless the user configured it
            quiet.setLevel(logging.WARNING)

        if self._options.address:
            self._client = Client(self._options.address, timeout=self._options.connect_timeout)
        else:
            with withheld(self._spec.private_env_names):  # its workers never open the instance
                self._cluster = LocalCluster(
                    n_workers=self._options.n_workers,
                    threads_per_worker=self._options.threads_per_worker,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    silence_logs=logging.WARNING,
                )
            self._client = Client(self._cluster)
        return self

    def __exit__(self, *exc: object) -> None:
        client, self._client = self._client, None
        if client is not None:
            if self._futures:
                client.cancel(list(self._futures))
            client.close()
        if self._cluster is not None:
            self._cluster.close()

    def _submit(self, op_name: str) -> Future:
        if self._client is None:
            raise RuntimeError("DaskLauncher.launch called outside its with block")
        return self._client.submit(
            run_on_dask_worker,
            self._spec.handoff_uri,
            op_name,
            key=f"kedro-{op_name}-{uuid.uuid4().hex[:8]}",
            pure=False,
        )

    def _wait(self, futures: list[Future], timeout: float) -> set[Future]:
        from distributed import wait
        from distributed.client import FuturesCancelledError

        try:
            return wait(futures, timeout=timeout, return_when="FIRST_COMPLETED").done
        except TimeoutError:
            return set()
        except FuturesCancelledError as error:  # e.g. the scheduler was lost
            where = self._options.address or "the run's local cluster"
            raise DagsterRunnerError(
                f"dask cancelled the run's tasks on {where} (the dask executor's 'address' "
                f"option): {' '.join(str(error).split())} Nodes still running on workers have "
                "their outputs refused once the run has ended."
            ) from None

    def _lost(self, op_name: str, error: Exception) -> str:
        if isinstance(error, DuplicateStepError):
            return (
                f"dask re-ran step '{op_name}' after losing a worker: {error} The step fails "
                "instead (dask re-runs the tasks of a lost worker; this package never runs a "
                "node twice)."
            )
        return f"dask could not run step '{op_name}': {error!r}"  # e.g. KilledWorker


class DaskKind(PackageExecutorKind[DaskOptions]):
    name = "dask"
    description = "dask.distributed workers (a local cluster for the run, or a scheduler's)"
    options_model = DaskOptions
    nodes_run: ClassVar[NodesRun] = NodesRun.REMOTE
    runs_shipped_pipelines: ClassVar[bool] = True
    extra: ClassVar[Extra | None] = Extra("dask", "distributed")

    kedro_dagster_name: ClassVar[str | None] = "dask_executor"

    def make_launcher(self, spec: RunSpec, options: DaskOptions) -> NodeLauncher:
        return DaskLauncher(spec, options)

    def adopt_kedro_dagster(self, options: Mapping[str, Any]) -> Adopted:
        """dagster-dask's ``cluster`` selector: ``existing: {address}`` or ``local: {...}``
        (``n_workers``, ``threads_per_worker``; other LocalCluster arguments are not used).
        Cluster managers (yarn, kube, slurm, ...) start a scheduler this kind cannot start."""
        rest = {key: value for key, value in options.items() if key != "cluster"}
        cluster = {k: v for k, v in (options.get("cluster") or {}).items() if v is not None}
        if len(cluster) > 1:
            return Adopted(rest, refusal=f"cluster names several types: {', '.join(cluster)}")
        ((kind, settings),) = cluster.items() if cluster else (("local", {}),)
        settings = dict(settings or {})
        if kind == "existing":
            return adopt({**rest, "address": settings.get("address")})
        if kind == "local":
            used = ("n_workers", "threads_per_worker")
            taken = {key: settings[key] for key in used if key in settings}
            ignored = {
                f"cluster.local.{key}": "the local cluster takes n_workers and threads_per_worker"
                for key in settings
                if key not in used
            }
            return adopt({**rest, **taken}, nested_ignored=ignored)
        return Adopted(
            rest,
            refusal=f"cluster type '{kind}': the dask executor starts a local cluster or uses an "
            "existing scheduler; start the scheduler with your cluster manager and set "
            "cluster: {existing: {address: ...}}",
        )


KIND = DaskKind()
