"""The performance targets of kedro-dagster-runner (issue 12's goals), checked against one
invocation's numbers; every ratio compares runs of the same invocation.

Each check returns ``(target, measured figure, verdict)``; the verdict is ``PASS``, ``MISS`` or
``n/a`` when the configurations it needs were not measured.
"""

from __future__ import annotations

from typing import Any

from benchlib.configs import Config
from benchlib.report import find, overhead_ms, rss_growth

Check = tuple[str, str, str]
BUILD_NODES = 5000
MIN_MARGINAL_STEP = 500
"""Sizes closer than this are not compared for growth: the wall's noise (~0.3 s) would be
several ms per node."""
"""Nodes of the job whose build time is checked (benchlib/child_build.py)."""


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _extra_over_sequential(
    configs: list[Config], shape: str, size: int, runner: str
) -> float | None:
    """Seconds of ``runner``'s wall above SequentialRunner's on the same project, same run."""
    ours = find(configs, shape, size, runner)
    sequential = find(configs, shape, size, "SequentialRunner")
    if not ours or not sequential or ours.wall is None or sequential.wall is None:
        return None
    return ours.wall - sequential.wall


def fixed_cost(configs: list[Config]) -> Check:
    """10-node chain: wall above SequentialRunner's <= 0.8 s (in_process), 1.0 s (multiprocess)."""
    target = (
        "fixed cost, 10-node chain, extra wall over SequentialRunner: in_process <= +0.8 s, "
        "multiprocess <= +1.0 s"
    )
    limits = {"kdr:in_process": 0.8, "kdr:multiprocess": 1.0}
    figures, verdicts = [], []
    for runner, limit in limits.items():
        extra = _extra_over_sequential(configs, "chain", 10, runner)
        if extra is None:
            continue
        figures.append(f"{runner.removeprefix('kdr:')} +{extra:.2f} s")
        verdicts.append(extra <= limit)
    if not verdicts:
        return target, "not measured", "n/a"
    return target, ", ".join(figures), _verdict(all(verdicts))


def per_node_overhead(configs: list[Config], size: int = 200) -> Check:
    """200-node chain: (wall - SequentialRunner's wall) / N <= 10 ms (in_process), 15 ms
    (multiprocess)."""
    target = (
        f"{size}-node chain, overhead/node over SequentialRunner: in_process <= 10 ms, "
        "multiprocess <= 15 ms"
    )
    limits = {"kdr:in_process": 10.0, "kdr:multiprocess": 15.0}
    figures, verdicts = [], []
    for runner, limit in limits.items():
        extra = _extra_over_sequential(configs, "chain", size, runner)
        if extra is None:
            continue
        per_node = extra * 1000 / size
        figures.append(f"{runner.removeprefix('kdr:')} {per_node:.1f} ms")
        verdicts.append(per_node <= limit)
    if not verdicts:
        return target, "not measured", "n/a"
    return target, ", ".join(figures), _verdict(all(verdicts))


def multiprocess_flat(configs: list[Config], node_seconds: float, sizes: list[int]) -> Check:
    """multiprocess: the cost per node does not grow with N from N=100 up.

    Measured as the marginal cost per node between successive sizes at least
    :data:`MIN_MARGINAL_STEP` nodes apart, (wall(N2) - wall(N1)) / (N2 - N1), in which the fixed
    cost cancels: largest / smallest <= 1.5 on the chain and the
    fan-out. The total overhead per node is shown too; it falls as N grows, because the share
    of the fixed cost does.
    """
    target = (
        "multiprocess: cost per node flat from N=100 to the largest N (marginal ms/node, "
        "max/min <= 1.5)"
    )
    figures, verdicts = [], []
    for shape in ("chain", "fanout"):
        walls = {}
        for size in sorted(size for size in sizes if size >= 100):
            config = find(configs, shape, size, "kdr:multiprocess")
            if config is None or config.wall is None:
                continue
            if walls and size - max(walls) < MIN_MARGINAL_STEP:
                continue  # too few nodes between the two for the difference to beat noise
            walls[size] = config
        steps = list(zip(sorted(walls), sorted(walls)[1:], strict=False))
        if len(steps) < 2:  # one step has nothing to be flat against
            continue
        marginal = [
            (walls[large].wall - walls[small].wall) * 1000 / (large - small)
            for small, large in steps
        ]
        totals = [overhead_ms(walls[size], node_seconds) for size in sorted(walls)]
        spread = max(marginal) / min(marginal) if min(marginal) > 0 else float("inf")
        verdicts.append(spread <= 1.5)
        figures.append(
            f"{shape}: marginal {min(marginal):.1f}-{max(marginal):.1f} ms/node "
            f"({spread:.2f}x); total {totals[0]:.0f} -> {totals[-1]:.0f} ms/node"
        )
    if not verdicts:
        return target, "not measured", "n/a"
    return target, "; ".join(figures), _verdict(all(verdicts))


def cpu_vs_parallel(configs: list[Config], cpu_nodes: int) -> Check:
    """multiprocess cpu fan-out no slower than ParallelRunner (wall ratio <= 1.0)."""
    target = "multiprocess: cpu fan-out wall <= 1.0x ParallelRunner's"
    ours = find(configs, "cpu", cpu_nodes, "kdr:multiprocess")
    theirs = find(configs, "cpu", cpu_nodes, "ParallelRunner")
    if not ours or not theirs or ours.wall is None or theirs.wall is None:
        return target, "not measured", "n/a"
    ratio = ours.wall / theirs.wall
    figure = f"{ours.wall:.2f} s vs {theirs.wall:.2f} s = {ratio:.2f}x"
    return target, figure, _verdict(ratio <= 1.0)


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
    """200 MB crosses processes at >= 1.5 GB/s (save + load through the handoff store)."""
    target = "handoff: 200 MB array crosses processes at >= 1500 MB/s (save+load)"
    config = find(configs, "handoff", 2, "kdr:multiprocess")
    handoff = config.result.get("handoff", {}) if config and config.ok else {}
    rate = handoff.get("save_load_mb_s")
    if rate is None:
        return target, "not measured", "n/a"
    figure = (
        f"save+load {rate:.0f} MB/s (load only {handoff['load_mb_s']:.0f} MB/s, "
        f"A end -> B start {handoff['gap_mb_s']:.0f} MB/s)"
    )
    return target, figure, _verdict(rate >= 1500)


def cli_startup(extras: dict[str, Any]) -> Check:
    """``kedro run`` with DagsterRunner at most 0.6 s slower than with SequentialRunner."""
    target = "CLI start-up: at most 0.6 s more than SequentialRunner"
    cli = extras.get("cli_startup")
    if not isinstance(cli, dict) or "difference_s" not in cli:
        return target, "not measured", "n/a"
    difference = cli["difference_s"]
    return target, f"+{difference:.2f} s", _verdict(difference <= 0.6)


def job_build(extras: dict[str, Any]) -> Check:
    """The job of 5,000 nodes builds in less than 2 s."""
    target = f"job for {BUILD_NODES} nodes built in < 2 s"
    build = extras.get("build_job")
    if not isinstance(build, dict) or "build_s" not in build:
        return target, "not measured", "n/a"
    first = build["build_s"][0]
    return target, f"{first:.2f} s (first build)", _verdict(first < 2.0)


def driver_rss(configs: list[Config], size: int) -> Check:
    """Driver RSS growth < 400 MB at the largest N for the package's own executors."""
    target = f"driver RSS growth < 400 MB at N={size} (in_process, multiprocess)"
    growth = {
        key: value
        for key, value in rss_growth(configs, size).items()
        if key.endswith(("kdr:in_process", "kdr:multiprocess"))
    }
    if not growth:
        return target, "not measured", "n/a"
    figure = ", ".join(f"{k} +{v:.0f} MB" for k, v in sorted(growth.items()))
    return target, figure, _verdict(max(growth.values()) < 400)


def evaluate(
    configs: list[Config],
    extras: dict[str, Any],
    node_seconds: float,
    sizes: list[int],
    cpu_nodes: int,
) -> list[Check]:
    """All checks, in the order of the targets list."""
    return [
        fixed_cost(configs),
        per_node_overhead(configs),
        cpu_vs_parallel(configs, cpu_nodes),
        cli_startup(extras),
        handoff_rate(configs),
        multiprocess_flat(configs, node_seconds, sizes),
        job_build(extras),
        driver_rss(configs, max(sizes)),
        speedup_vs_process_per_step(configs),
    ]


def targets_table(checks: list[Check]) -> str:
    """The checks as a markdown table."""
    header = "| target | measured | verdict |\n| --- | --- | --- |"
    return "\n".join([header, *(f"| {t} | {m} | {v} |" for t, m, v in checks)])
