"""Throughput of the 200 MB handoff, from the timestamps the handoff project records.

The project writes JSON lines to ``$KDR_BENCH_EVENTS`` (``time.time()``, pid):

* ``node_end`` of ``make_array`` (the array exists; the runner now saves it),
* ``node_start`` of ``consume_array`` (the runner has loaded it),
* ``before_save``/``after_save`` and ``before_load``/``after_load`` of ``big`` from Kedro's
  dataset hooks, where the runner fires them (Kedro's runners and DagsterRunner; kedro-dagster
  does not fire dataset hooks for memory datasets).

Three figures, all for ``HANDOFF_BYTES`` = 200 MB (10^6 bytes per MB):

* ``load``: 200 MB / duration of B's input load (``before_load`` -> ``after_load``);
* ``save+load``: 200 MB / (A's output save + B's input load), the cost of crossing;
* ``gap``: 200 MB / (B's start - A's end): save, scheduling and load together. The only figure
  available for every runner.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchlib.projects import HANDOFF_BYTES

MB = 1_000_000


def _first(events: list[dict[str, Any]], kind: str, **match: str) -> dict[str, Any] | None:
    for event in events:
        if event["event"] == kind and all(event.get(k) == v for k, v in match.items()):
            return event
    return None


def _rate(seconds: float | None) -> float | None:
    return HANDOFF_BYTES / MB / seconds if seconds and seconds > 0 else None


def summarise(path: Path) -> dict[str, Any]:
    """Durations (s), rates (MB/s) and the pids of producer and consumer."""
    if not path.exists():
        return {}
    events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    a_end = _first(events, "node_end", node="make_array")
    b_start = _first(events, "node_start", node="consume_array")
    save_0 = _first(events, "before_save", dataset="big")
    save_1 = _first(events, "after_save", dataset="big")
    load_0 = _first(events, "before_load", dataset="big", node="consume_array")
    load_1 = _first(events, "after_load", dataset="big", node="consume_array")
    save = save_1["time"] - save_0["time"] if save_0 and save_1 else None
    load = load_1["time"] - load_0["time"] if load_0 and load_1 else None
    gap = b_start["time"] - a_end["time"] if a_end and b_start else None
    return {
        "save_s": save,
        "load_s": load,
        "gap_s": gap,
        "load_mb_s": _rate(load),
        "save_load_mb_s": _rate(save + load) if save is not None and load is not None else None,
        "gap_mb_s": _rate(gap),
        "producer_pid": a_end["pid"] if a_end else None,
        "consumer_pid": b_start["pid"] if b_start else None,
    }
