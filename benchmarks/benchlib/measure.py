"""Measurements taken inside a benchmark child process (RSS, result file, profiling)."""

from __future__ import annotations

import cProfile
import json
import multiprocessing
import resource
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def current_rss_mb() -> float:
    """Resident set size of this process now, in MB (from ``/proc/self/status``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb(who: int) -> float:
    """``ru_maxrss`` in MB for ``resource.RUSAGE_SELF`` or ``RUSAGE_CHILDREN``.

    For ``RUSAGE_CHILDREN`` it is the largest peak among the children (and their descendants)
    that have terminated and been waited for, not a sum.
    """
    return resource.getrusage(who).ru_maxrss / 1024


def stop_forkserver() -> None:
    """Stop (and wait for) multiprocessing's forkserver, if this process started one.

    Workers started through a forkserver are its children, not ours; only once the forkserver
    has been waited for do their peaks reach our ``RUSAGE_CHILDREN``.
    """
    try:
        from multiprocessing import forkserver
    except ImportError:  # pragma: no cover - platforms without forkserver
        return
    server = getattr(forkserver, "_forkserver", None)
    stop = getattr(server, "_stop", None)
    if callable(stop) and getattr(server, "_forkserver_pid", None) is not None:
        stop()


def reap_children() -> None:
    """Join finished multiprocessing children so that they count in ``RUSAGE_CHILDREN``."""
    multiprocessing.active_children()


@contextmanager
def maybe_profile(path: str | None) -> Iterator[None]:
    """Profile the block with cProfile into ``path`` (no-op when ``path`` is None)."""
    if not path:
        yield
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        profiler.dump_stats(path)


def write_result(path: str, result: dict[str, Any]) -> None:
    """Write the child's result as JSON (the parent reads it after the child exits)."""
    Path(path).write_text(json.dumps(result, indent=1, sort_keys=True), encoding="utf-8")
