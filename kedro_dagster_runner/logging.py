"""Loggers for node code whose records reach Dagster's event log as well as the terminal.

    from kedro_dagster_runner.logging import getLogger

    log = getLogger(__name__)

    def train(data):
        log.info("training on %d rows", len(data))

Records go, as with any Python logger, to the handlers of the process running the node (Kedro's
terminal output), once. While a node runs under DagsterRunner they are also collected and written
to the Dagster run's event log by the process that records the run's events, attributed to the
node's step (:mod:`kedro_dagster_runner.workers.records`). Outside DagsterRunner (e.g. under
SequentialRunner) they are plain log records.
"""

from __future__ import annotations

import logging as _logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

ROOT_LOGGER = "kedro_dagster_runner.nodes"
_local = threading.local()


class _Collector(_logging.Handler):
    """Appends formatted records to the list of the node running in this thread, if any."""

    def emit(self, record: _logging.LogRecord) -> None:
        records = getattr(_local, "records", None)
        if records is not None:
            records.append((record.levelno, record.getMessage()))


def _root() -> _logging.Logger:
    logger = _logging.getLogger(ROOT_LOGGER)
    if not any(isinstance(handler, _Collector) for handler in logger.handlers):
        logger.addHandler(_Collector())
        if logger.level == _logging.NOTSET:
            logger.setLevel(_logging.INFO)
    return logger


def getLogger(name: str | None = None) -> _logging.Logger:
    """A logger under ``kedro_dagster_runner.nodes`` (INFO unless configured otherwise)."""
    root = _root()
    return root.getChild(name) if name else root


@contextmanager
def capture() -> Iterator[list[tuple[int, str]]]:
    """Collect the records node code logs in this thread while the block runs."""
    _root()
    previous = getattr(_local, "records", None)
    _local.records = records = []
    try:
        yield records
    finally:
        _local.records = previous
