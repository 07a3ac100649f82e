"""Markdown tables of a benchmark invocation.

Overhead per node (ms) = (wall - ideal) / N x 1000, where ``ideal`` is the compute time of the
critical path with perfect scheduling, the same formula for every runner:

* ``chain`` and ``fanout``: 0 (the nodes do no measurable work);
* ``cpu``: ``t_node x ceil(N / 2)``, with ``t_node`` the busy loop's time measured once in the
  parent and 2 the worker count of the parallel runners (``min(2, os.cpu_count())`` here).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from benchlib.configs import LABELS, Config

PARALLEL_WORKERS = 2


def ideal_seconds(shape: str, size: int, node_seconds: float) -> float:
    """Critical-path compute of a configuration (see the module docstring)."""
    if shape == "cpu":
        return node_seconds * math.ceil(size / PARALLEL_WORKERS)
    return 0.0


def overhead_ms(config: Config, node_seconds: float) -> float | None:
    """Per-node overhead of a measured configuration, in milliseconds."""
    if config.wall is None:
        return None
    ideal = ideal_seconds(config.shape, config.size, node_seconds)
    return (config.wall - ideal) / config.size * 1000


def find(configs: Iterable[Config], shape: str, size: int, runner: str) -> Config | None:
    """The configuration of ``runner`` on ``shape``/``size``, if it was planned."""
    for config in configs:
        if (config.shape, config.size, config.runner) == (shape, size, runner):
            return config
    return None


def _fmt(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def _ratio(config: Config, reference: Config | None) -> str:
    if config.wall is None or reference is None or reference.wall is None:
        return "n/a"
    return f"{config.wall / reference.wall:.2f}"


def _workers_rss(config: Config) -> str:
    """``RUSAGE_CHILDREN`` peak / sampled ``VmHWM`` peak of the child's processes.

    The first is a dash when no child outgrew those that existed before the run (e.g. git), the
    second when no process was seen while sampling.
    """
    peak = config.result.get("workers_peak_rss_mb")
    before = config.result.get("children_peak_before_run_mb")
    sampled = config.result.get("workers_sampled_peak_mb")
    if peak is None:
        return ""
    rusage = "-" if before is not None and peak <= before else f"{peak:.0f}"
    return rusage + " / " + ("-" if sampled is None else f"{sampled:.0f}")


def _row(config: Config, configs: list[Config], node_seconds: float) -> str:
    label = LABELS.get(config.runner, config.runner)
    if not config.ok:
        return f"| {config.shape} | {config.size} | {label} | {config.status} | | | | | |"
    seq = find(configs, config.shape, config.size, "SequentialRunner")
    par = find(configs, config.shape, config.size, "ParallelRunner")
    cells = [
        config.shape,
        str(config.size),
        label,
        _fmt(config.wall),
        _fmt(overhead_ms(config, node_seconds), 1),
        _fmt(config.result.get("driver_peak_rss_mb"), 0),
        _workers_rss(config),
        _ratio(config, seq),
        _ratio(config, par),
    ]
    return "| " + " | ".join(cells) + " |"


def main_table(configs: list[Config], node_seconds: float) -> str:
    """The chain / fanout / cpu table."""
    header = (
        "| shape | N | runner / executor | wall s | overhead ms/node | driver peak RSS MB "
        "| worker peak RSS MB (rusage / sampled) | x Sequential | x Parallel |\n"
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    rows = [_row(c, configs, node_seconds) for c in configs if c.shape != "handoff"]
    return "\n".join([header, *rows])


def handoff_table(configs: list[Config]) -> str:
    """The 200 MB handoff table (see :mod:`benchlib.handoff_events` for the definitions)."""
    header = (
        "| runner / executor | wall s | A and B in | save s | load s | A end -> B start s "
        "| load MB/s | save+load MB/s | gap MB/s |\n"
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    rows = []
    for config in configs:
        if config.shape != "handoff":
            continue
        label = LABELS.get(config.runner, config.runner)
        if not config.ok:
            rows.append(f"| {label} | {config.status} | | | | | | | |")
            continue
        h: dict[str, Any] = config.result.get("handoff", {})
        producer, consumer = h.get("producer_pid"), h.get("consumer_pid")
        if producer is None or consumer is None:
            where = "?"
        elif producer == consumer:
            where = "driver" if producer == config.result.get("pid") else "one worker"
        else:
            where = "two processes"
        cells = [
            label,
            _fmt(config.wall),
            where,
            _fmt(h.get("save_s")),
            _fmt(h.get("load_s")),
            _fmt(h.get("gap_s")),
            _fmt(h.get("load_mb_s"), 0),
            _fmt(h.get("save_load_mb_s"), 0),
            _fmt(h.get("gap_mb_s"), 0),
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join([header, *rows])


def kd_build_table(configs: list[Config]) -> str:
    """kedro-dagster's translation time (outside its wall time), per project."""
    rows = [
        f"| {c.shape} | {c.size} | {LABELS[c.runner]} | {c.result['build_s']:.2f} |"
        for c in configs
        if c.runner.startswith("kd:") and c.ok and "build_s" in c.result
    ]
    if not rows:
        return ""
    header = (
        "| shape | N | kedro-dagster run | translation (import of the code location) s |\n"
        "| --- | ---: | --- | ---: |"
    )
    return "\n".join([header, *rows])


def marginal_table(configs: list[Config], sizes: list[int], runners: tuple[str, ...]) -> str:
    """Marginal cost per node between successive sizes: (wall(N2) - wall(N1)) / (N2 - N1).

    Fixed costs (imports, pools, run creation) cancel out, so this is the per-node price alone.
    """
    pairs = list(zip(sorted(sizes), sorted(sizes)[1:], strict=False))
    if not pairs:
        return ""
    header = "| shape | runner / executor | " + " | ".join(f"{a}->{b}" for a, b in pairs) + " |"
    rule = "| --- | --- | " + " | ".join("---:" for _ in pairs) + " |"
    rows = []
    for shape in ("chain", "fanout"):
        for runner in runners:
            cells = []
            for small, large in pairs:
                a, b = find(configs, shape, small, runner), find(configs, shape, large, runner)
                if a is None or b is None or a.wall is None or b.wall is None:
                    cells.append("")
                    continue
                cells.append(f"{(b.wall - a.wall) / (large - small) * 1000:.1f}")
            if any(cells):
                label = LABELS.get(runner, runner)
                rows.append(f"| {shape} | {label} | " + " | ".join(cells) + " |")
    return "\n".join([header, rule, *rows]) if rows else ""


def rss_growth(configs: list[Config], size: int) -> dict[str, float]:
    """Driver peak RSS minus RSS just before ``session.run``, per configuration at ``size``."""
    return {
        c.key: c.result["driver_peak_rss_mb"] - c.result["driver_rss_before_run_mb"]
        for c in configs
        if c.ok and c.size == size and "driver_rss_before_run_mb" in c.result
    }


def phases_table(phases: dict[str, Any]) -> str:
    """Seconds per phase of one small run, a column per runner (benchlib/child_phases.py:
    ``[[phase, seconds, collector seconds], ...]`` in the order they ran), with each runner's
    total, its extra over SequentialRunner's total and the garbage collector's share."""
    measured = {
        runner: {entry[0]: entry[1] for entry in p}
        for runner, p in phases.items()
        if isinstance(p, list)
    }
    collected = {
        runner: sum(entry[2] for entry in p if len(entry) > 2)
        for runner, p in phases.items()
        if isinstance(p, list)
    }
    failed = [f"- {runner}: {p}" for runner, p in phases.items() if not isinstance(p, list)]
    if not measured:
        return "\n".join(failed) or "not measured"
    names: list[str] = []
    for runner in sorted(measured, key=lambda r: -len(measured[r])):
        names += [entry[0] for entry in phases[runner] if entry[0] not in names]
    runners = list(measured)
    header = "| phase | " + " | ".join(LABELS.get(r, r) for r in runners) + " |"
    rule = "| --- | " + " | ".join("---:" for _ in runners) + " |"
    rows = [
        f"| {name} | " + " | ".join(_fmt(measured[r].get(name)) for r in runners) + " |"
        for name in names
    ]
    totals = {r: sum(measured[r].values()) for r in runners}
    rows.append("| **total** | " + " | ".join(_fmt(totals[r]) for r in runners) + " |")
    if "SequentialRunner" in totals:
        base = totals["SequentialRunner"]
        extras = " | ".join(f"+{totals[r] - base:.2f}" for r in runners)
        rows.append(f"| extra over SequentialRunner | {extras} |")
    rows.append(
        "| of the total: Python's garbage collector | "
        + " | ".join(_fmt(collected[r]) for r in runners)
        + " |"
    )
    return "\n".join([header, rule, *rows, *failed])


def extras_lines(extras: dict[str, Any], configs: list[Config], max_size: int) -> str:
    """The CLI start-up, job build and RSS growth lines."""
    lines = []
    cli = extras.get("cli_startup")
    if isinstance(cli, dict) and "best_s" in cli:
        best = cli["best_s"]
        lines.append(
            f"- CLI start-up (`kedro run` on examples/spaceflights, whole process, best of "
            f"{len(cli['samples_s']['SequentialRunner'])}): SequentialRunner "
            f"{best['SequentialRunner']:.2f} s, DagsterRunner {best['DagsterRunner']:.2f} s "
            f"(+{cli['difference_s']:.2f} s)"
        )
    elif cli:
        lines.append(f"- CLI start-up: {cli}")
    build = extras.get("build_job")
    if isinstance(build, dict) and "build_s" in build:
        lines.append(
            f"- `build_job` for a {build['nodes']}-node chain: first build "
            f"{build['build_s'][0]:.2f} s, best of {len(build['build_s'])} "
            f"{min(build['build_s']):.2f} s (imports before it: {build['import_s']:.2f} s)"
        )
    elif build:
        lines.append(f"- build_job: {build}")
    growth = rss_growth(configs, max_size)
    shown = {k: v for k, v in growth.items() if "kdr:" in k or "SequentialRunner" in k}
    if shown:
        parts = ", ".join(f"{k} +{v:.0f} MB" for k, v in sorted(shown.items()))
        lines.append(f"- Driver RSS growth during `session.run` at N={max_size}: {parts}")
    return "\n".join(lines)
