"""Kedro's dataset validators (Kedro 1.7+ ``validator:`` catalog entries) as Dagster asset
checks.

While a step runs its nodes, every validation the catalog applies on load or save is recorded
as a :class:`ValidationResult`: passed, or failed with the validator's message and the
declared severity (a ``warn`` failure included, which Kedro only logs). The step's outcome
carries the results of its nodes' datasets; they become ``AssetCheckEvaluation`` events of the
check :data:`CHECK_NAME` on the dataset's asset (:mod:`kedro_dagster_runner.workers.records`).

Kedro's behaviour is unchanged: an ``error`` failure still fails the node with Kedro's
``DataValidationError``, a ``warn`` failure still only logs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kedro_dagster_runner import _compat

if TYPE_CHECKING:
    from kedro.io import CatalogProtocol

CHECK_NAME = "kedro_validator"
"""The asset check of a dataset's Kedro validator (one per dataset, whatever its modes)."""


@dataclass(frozen=True)
class ValidationResult:
    """One validation of a dataset by its declared validator.

    Attributes:
        dataset: The catalog name validated.
        mode: ``load`` or ``save``.
        passed: True when the validator accepted the data.
        severity: The declared severity, ``error`` or ``warn``.
        validator: The validator's class path.
        message: The validator's message when it failed.
    """

    dataset: str
    mode: str
    passed: bool
    severity: str
    validator: str
    message: str = ""


class _Recorder:
    """The validations of one catalog, shared by the steps running on it in this process."""

    def __init__(self) -> None:
        self.results: list[tuple[int, ValidationResult]] = []  # (thread, result)
        self.lock = threading.Lock()
        self.users = 0
        self.stop: Callable[[], None] | None = None

    def add(
        self, dataset: str, mode: str, passed: bool, severity: str, validator: str, message: str
    ) -> None:
        result = ValidationResult(dataset, mode, passed, severity, validator, message)
        with self.lock:
            self.results.append((threading.get_ident(), result))

    def take(self, read: set[str], written: set[str], alone: bool) -> list[ValidationResult]:
        """Remove and return the results of loads of ``read`` and saves of ``written`` made in
        this thread; when no other step shares the catalog (``alone``), those made in other
        threads too (Kedro's ``--async`` loads and saves in threads of its own)."""
        thread = threading.get_ident()
        with self.lock:
            mine, kept = [], []
            for made_in, result in self.results:
                ours = result.dataset in (read if result.mode == "load" else written)
                if ours and (alone or made_in == thread):
                    mine.append(result)
                else:
                    kept.append((made_in, result))
            self.results = kept
            return mine


_RECORDERS: dict[int, _Recorder] = {}
_RECORDERS_LOCK = threading.Lock()


@contextmanager
def recorded_validations(
    catalog: CatalogProtocol, read: set[str], written: set[str]
) -> Iterator[list[ValidationResult]]:
    """Record the validations of ``read`` (on load) and ``written`` (on save) while the block
    runs; the yielded list holds them once it ends (also when it raises).

    Steps running at once on one catalog (threads of a dask worker) share one watch of it; a
    catalog without validators is not touched.
    """
    found: list[ValidationResult] = []
    with _RECORDERS_LOCK:
        recorder = _RECORDERS.get(id(catalog))
        if recorder is None:
            recorder = _Recorder()
            recorder.stop = _compat.watch_validation(catalog, recorder.add, read | written)
            if recorder.stop is not None:  # None: no validator declared, nothing to record
                _RECORDERS[id(catalog)] = recorder
        if recorder.stop is not None:
            recorder.users += 1
    if recorder.stop is None:
        yield found
        return
    try:
        yield found
    finally:
        with _RECORDERS_LOCK:
            alone = recorder.users == 1
        found.extend(recorder.take(read, written, alone))
        with _RECORDERS_LOCK:
            recorder.users -= 1
            if recorder.users == 0:
                _RECORDERS.pop(id(catalog), None)
                recorder.stop()
