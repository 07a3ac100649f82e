"""The benchmark matrix: which runner runs which project, and which configurations are skipped."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

# Runner ids, in table order. "kdr:" = kedro-dagster-runner's DagsterRunner with that executor,
# "kd:" = kedro-dagster 0.8.1's translated job.
KEDRO_RUNNERS = ("SequentialRunner", "ParallelRunner", "ThreadRunner")
KDR_RUNNERS = (
    "kdr:in_process",
    "kdr:multiprocess",
    "kdr:dagster_in_process",
    "kdr:dagster_multiprocess",
)
KD_RUNNERS = ("kd:in_process", "kd:multiprocess")
ALL_RUNNERS = (*KEDRO_RUNNERS, *KDR_RUNNERS, *KD_RUNNERS)
QUICK_RUNNERS = ("SequentialRunner", "ParallelRunner", "kdr:in_process", "kdr:multiprocess")
HANDOFF_RUNNERS = (
    "SequentialRunner",
    "ParallelRunner",
    "kdr:in_process",
    "kdr:multiprocess",
    "kdr:dagster_multiprocess",
    "kd:in_process",
    "kd:multiprocess",
)
QUICK_HANDOFF_RUNNERS = ("ParallelRunner", "kdr:multiprocess")

# Executors that start a fresh Python process per step (seconds per step): pointless at N=1000.
PROCESS_PER_STEP = frozenset({"kdr:dagster_multiprocess", "kd:multiprocess"})
PROCESS_PER_STEP_MAX_N = 200
# In --quick, ParallelRunner (about 0.3 s per node here) only runs the small sizes.
QUICK_PARALLEL_MAX_N = 10

LABELS = {
    "SequentialRunner": "SequentialRunner",
    "ParallelRunner": "ParallelRunner (2 workers)",
    "ThreadRunner": "ThreadRunner",
    "kdr:in_process": "DagsterRunner in_process",
    "kdr:multiprocess": "DagsterRunner multiprocess (2)",
    "kdr:dagster_in_process": "DagsterRunner dagster_in_process",
    "kdr:dagster_multiprocess": "DagsterRunner dagster_multiprocess (2)",
    "kd:in_process": "kedro-dagster 0.8.1 in_process",
    "kd:multiprocess": "kedro-dagster 0.8.1 multiprocess (2)",
}


@dataclass
class Config:
    """One measurement: a runner on one generated project.

    ``status`` is ``ok``, ``failed: <reason>`` or ``skipped: <reason>``; ``result`` holds what the
    child reported (wall time, RSS, ...) and ``elapsed_s`` the child's whole lifetime.
    """

    shape: str
    size: int
    runner: str
    status: str = "pending"
    result: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float | None = None
    samples: list[float] = field(default_factory=list)
    load_average: float | None = None  # 1-minute load average when the configuration started

    @property
    def key(self) -> str:
        return f"{self.shape}/{self.size}/{self.runner}"

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def wall(self) -> float | None:
        return self.result.get("wall_s") if self.ok else None


def plan(
    sizes: list[int], cpu_nodes: int, quick: bool, with_kd: bool
) -> list[tuple[str, int, tuple[str, ...]]]:
    """``(shape, size, runners)`` triples in execution order (sizes ascending per shape)."""
    runners = QUICK_RUNNERS if quick else ALL_RUNNERS
    handoff = QUICK_HANDOFF_RUNNERS if quick else HANDOFF_RUNNERS
    if not with_kd:
        runners = tuple(r for r in runners if not r.startswith("kd:"))
        handoff = tuple(r for r in handoff if not r.startswith("kd:"))
    triples: list[tuple[str, int, tuple[str, ...]]] = []
    for shape in ("chain", "fanout"):
        triples += [(shape, size, runners) for size in sorted(sizes)]
    triples.append(("cpu", cpu_nodes, runners))
    triples.append(("handoff", 2, handoff))
    return triples


def static_skip(config: Config, quick: bool) -> str | None:
    """A reason to skip ``config`` without trying it, or None."""
    if config.runner in PROCESS_PER_STEP and config.size > PROCESS_PER_STEP_MAX_N:
        return "skipped: too slow (a new process per step, seconds each)"
    if (
        quick
        and config.runner == "ParallelRunner"
        and config.shape in {"chain", "fanout"}
        and config.size > QUICK_PARALLEL_MAX_N
    ):
        return "skipped: --quick (ParallelRunner costs ~0.3 s per node here)"
    return None


def expected_seconds(config: Config, done: list[Config]) -> tuple[float, Config] | None:
    """Predict the child's lifetime from the sizes measured for the same runner and shape.

    Session time is scaled from the largest smaller size as ``N^k``: ``k`` is fitted on the two
    largest smaller sizes when there are two (never below 1), else 1. The rest of the child's
    lifetime (start-up, imports, translation) is kept as measured. ``None`` without a basis.
    """
    basis = sorted(
        (
            c
            for c in done
            if c.ok
            and c.runner == config.runner
            and c.shape == config.shape
            and c.size < config.size
            and c.elapsed_s is not None
        ),
        key=lambda c: c.size,
    )
    if not basis:
        return None
    previous = basis[-1]
    exponent = 1.0
    if len(basis) >= 2:
        before = basis[-2]
        ratio = previous.result["wall_s"] / max(before.result["wall_s"], 1e-9)
        exponent = max(1.0, math.log(max(ratio, 1e-9)) / math.log(previous.size / before.size))
    wall = previous.result["wall_s"]
    assert previous.elapsed_s is not None
    fixed = max(previous.elapsed_s - wall, 0.0)
    return fixed + wall * (config.size / previous.size) ** exponent, previous
