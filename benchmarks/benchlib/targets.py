"""The performance targets of kedro-dagster-runner, checked against one invocation's numbers.

Each check returns ``(target, measured figure, verdict)``; the verdict is ``PASS``, ``MISS`` or
``n/a`` when the configurations it needs were not measured.
"""

from __future__ import annotations

from typing import Any

from benchlib.configs import Config
from benchlib.report import find, overhead_ms, rss_growth

Check = tuple[str, str, str]


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def in_process_overhead(configs: list[Config], node_seconds: float) -> Check:
    """DagsterRunner in_process: <= 10 ms per node on the 200-node chain."""
    target = "in_process: overhead <= 10 ms/node on the 200-node chain"
    config = find(configs, "chain", 200, "kdr:in_process")
    value = overhead_ms(config, node_seconds) if config else None
    if value is None:
        return target, "not measured", "n/a"
    return target, f"{value:.1f} ms/node", _verdict(value <= 10)


def multiprocess_overhead(configs: list[Config], node_seconds: float, sizes: list[int]) -> Check:
    """multiprocess: <= 20 ms per node at every measured N, chain and fanout."""
    target = "multiprocess: overhead <= 20 ms/node at every N (chain, fanout)"
    figures = []
    worst = None
    for shape in ("chain", "fanout"):
        for size in sorted(sizes):
            config = find(configs, shape, size, "kdr:multiprocess")
            value = overhead_ms(config, node_seconds) if config else None
            if value is None:
                continue
            figures.append(f"{shape} {size}: {value:.0f}")
            worst = value if worst is None else max(worst, value)
    if worst is None:
        return target, "not measured", "n/a"
    return target, "; ".join(figures) + " ms/node", _verdict(worst <= 20)


def multiprocess_flat(configs: list[Config], node_seconds: float, sizes: list[int]) -> Check:
    """multiprocess: per-node overhead flat over N (largest / smallest value <= 1.5)."""
    target = "multiprocess: overhead/node flat from smallest to largest N (max/min <= 1.5)"
    figures, verdicts = [], []
    for shape in ("chain", "fanout"):
        values = {}
        for size in sorted(sizes):
            config = find(configs, shape, size, "kdr:multiprocess")
            value = overhead_ms(config, node_seconds) if config else None
            if value is not None:
                values[size] = value
        if len(values) < 2:
            continue
        spread = max(values.values()) / min(values.values())
        verdicts.append(spread <= 1.5)
        figures.append(
            f"{shape}: {max(values.values()):.0f} to {min(values.values()):.0f} ms/node "
            f"({spread:.1f}x)"
        )
    if not verdicts:
        return target, "not measured", "n/a"
    return target, "; ".join(figures), _verdict(all(verdicts))


def cpu_vs_parallel(configs: list[Config], cpu_nodes: int) -> Check:
    """multiprocess cpu fan-out within 1.25x of ParallelRunner's wall."""
    target = "multiprocess: cpu fan-out wall within 1.25x of ParallelRunner"
    ours = find(configs, "cpu", cpu_nodes, "kdr:multiprocess")
    theirs = find(configs, "cpu", cpu_nodes, "ParallelRunner")
    if not ours or not theirs or ours.wall is None or theirs.wall is None:
        return target, "not measured", "n/a"
    ratio = ours.wall / theirs.wall
    figure = f"{ours.wall:.2f} s vs {theirs.wall:.2f} s = {ratio:.2f}x"
    return target, figure, _verdict(ratio <= 1.25)


def _lower_bound_seconds(config: Config) -> float | None:
    """Measured wall, or for a skipped configuration its predicted/timeout time (a lower bound)."""
    if config.wall is not None:
        return config.wall
    return config.result.get("lower_bound_s")


def speedup_vs_process_per_step(configs: list[Config], size: int = 200) -> Check:
    """multiprocess >= 10x faster than the stock multiprocess executors at N=200."""
    target = (
        f"multiprocess: >= 10x faster than dagster_multiprocess and kedro-dagster multiprocess "
        f"at N={size}"
    )
    figures, verdicts = [], []
    for shape in ("chain", "fanout"):
        ours = find(configs, shape, size, "kdr:multiprocess")
        if not ours or ours.wall is None:
            continue
        for other_id in ("kdr:dagster_multiprocess", "kd:multiprocess"):
            other = find(configs, shape, size, other_id)
            seconds = _lower_bound_seconds(other) if other else None
            if seconds is None:
                continue
            bound = "" if other is not None and other.wall is not None else ">= "
            ratio = seconds / ours.wall
            figures.append(f"{shape} vs {other_id}: {bound}{ratio:.0f}x")
            verdicts.append(ratio >= 10)
    if not verdicts:
        return target, "not measured", "n/a"
    return target, "; ".join(figures), _verdict(all(verdicts))


def handoff_rate(configs: list[Config]) -> Check:
    """200 MB crosses processes at >= 500 MB/s (save + load through the handoff store)."""
    target = "handoff: 200 MB crosses processes at >= 500 MB/s (save+load)"
    config = find(configs, "handoff", 2, "kdr:multiprocess")
    handoff = config.result.get("handoff", {}) if config and config.ok else {}
    rate = handoff.get("save_load_mb_s")
    if rate is None:
        return target, "not measured", "n/a"
    figure = (
        f"save+load {rate:.0f} MB/s (load only {handoff['load_mb_s']:.0f} MB/s, "
        f"A end -> B start {handoff['gap_mb_s']:.0f} MB/s)"
    )
    return target, figure, _verdict(rate >= 500)


def cli_startup(extras: dict[str, Any]) -> Check:
    """``kedro run`` with DagsterRunner at most 1 s slower than with SequentialRunner."""
    target = "CLI start-up: at most 1 s more than SequentialRunner"
    cli = extras.get("cli_startup")
    if not isinstance(cli, dict) or "difference_s" not in cli:
        return target, "not measured", "n/a"
    difference = cli["difference_s"]
    return target, f"+{difference:.2f} s", _verdict(difference <= 1.0)


def job_build(extras: dict[str, Any]) -> Check:
    """The job of 1000 nodes builds in less than 1 s."""
    target = "job for 1000 nodes built in < 1 s"
    build = extras.get("build_job")
    if not isinstance(build, dict) or "build_s" not in build:
        return target, "not measured", "n/a"
    first = build["build_s"][0]
    return target, f"{first:.2f} s (first build)", _verdict(first < 1.0)


def driver_rss(configs: list[Config], size: int) -> Check:
    """Driver RSS growth <= 200 MB at N=1000 for the package's own executors."""
    target = f"driver RSS growth <= 200 MB at N={size} (in_process, multiprocess)"
    growth = {
        key: value
        for key, value in rss_growth(configs, size).items()
        if key.endswith(("kdr:in_process", "kdr:multiprocess"))
    }
    if not growth:
        return target, "not measured", "n/a"
    figure = ", ".join(f"{k} +{v:.0f} MB" for k, v in sorted(growth.items()))
    return target, figure, _verdict(max(growth.values()) <= 200)


def evaluate(
    configs: list[Config],
    extras: dict[str, Any],
    node_seconds: float,
    sizes: list[int],
    cpu_nodes: int,
) -> list[Check]:
    """All checks, in the order of the targets list."""
    return [
        in_process_overhead(configs, node_seconds),
        multiprocess_overhead(configs, node_seconds, sizes),
        multiprocess_flat(configs, node_seconds, sizes),
        cpu_vs_parallel(configs, cpu_nodes),
        speedup_vs_process_per_step(configs),
        handoff_rate(configs),
        cli_startup(extras),
        job_build(extras),
        driver_rss(configs, max(sizes)),
    ]


def targets_table(checks: list[Check]) -> str:
    """The checks as a markdown table."""
    header = "| target | measured | verdict |\n| --- | --- | --- |"
    return "\n".join([header, *(f"| {t} | {m} | {v} |" for t, m, v in checks)])
