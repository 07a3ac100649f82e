"""Nodes on dask.distributed: a local cluster started for the run, or an existing scheduler.

Each dask worker process rebuilds the Kedro context once per run (cached) and then runs node
after node; the driver keeps orchestrating and recording Dagster events. Workers must see the
project at the same path and the handoff store (local temp dir by default; set
``runner.handoff`` to a shared path or fsspec URI for workers on other machines).
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from kedro_dagster_runner.launchers import StepOutcome, error_outcome
from kedro_dagster_runner.remote import run_remote_step
from kedro_dagster_runner.spec import RunSpec


class DaskLauncher:
    """Submits one dask task per node; options come from the ``dask`` executor of dagster.yml."""

    def __init__(self, spec: RunSpec, options: dict[str, Any]) -> None:
        if spec.handoff_uri is None:
            raise ValueError("the dask executor needs the run's handoff store")
        self._spec = spec
        self._options = options
        self.max_concurrent = options.get("max_concurrent") or 10_000
        self._client: Any = None
        self._cluster: Any = None
        self._futures: dict[Any, str] = {}
        self._started: dict[str, float] = {}

    def __enter__(self) -> DaskLauncher:
        from distributed import Client, LocalCluster

        quiet = logging.getLogger("distributed")
        if quiet.level == logging.NOTSET:  # dask's cluster chatter, unless the user configured it
            quiet.setLevel(logging.WARNING)

        address = self._options.get("address")
        if address:
            self._client = Client(address, timeout=self._options.get("connect_timeout", 30))
        else:
            self._cluster = LocalCluster(
                n_workers=self._options.get("n_workers"),
                threads_per_worker=self._options.get("threads_per_worker", 1),
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                silence_logs=logging.WARNING,
            )
            self._client = Client(self._cluster)
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if self._futures:
            self._client.cancel(list(self._futures))
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()

    def launch(self, op_name: str) -> None:
        self._started[op_name] = time.perf_counter()
        future = self._client.submit(
            run_remote_step,
            self._spec.handoff_uri,
            op_name,
            key=f"kedro-{op_name}-{uuid.uuid4().hex[:8]}",
            pure=False,
        )
        self._futures[future] = op_name

    def running(self) -> int:
        return len(self._futures)

    def finished(self, timeout: float) -> list[StepOutcome]:
        from distributed import wait

        if not self._futures:
            return []
        try:
            done, _ = wait(list(self._futures), timeout=timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:
            return []
        outcomes = []
        for future in done:
            op_name = self._futures.pop(future)
            try:
                outcomes.append(future.result())
            except Exception as error:  # the task never ran to completion (e.g. KilledWorker)
                elapsed = (time.perf_counter() - self._started[op_name]) * 1000
                outcomes.append(
                    error_outcome(
                        op_name, elapsed, f"dask could not run step '{op_name}': {error!r}"
                    )
                )
        return outcomes
