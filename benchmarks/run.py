"""Benchmark suite of kedro-dagster-runner: one command, fresh interpreter per configuration.

    python benchmarks/run.py [--quick] [--sizes 10,50,200,1000] [--out results/latest.json]

Generates synthetic Kedro projects (chain, fanout, cpu, handoff; see benchlib/projects.py), runs
each with Kedro's runners, DagsterRunner's four executors and kedro-dagster 0.8.1's translated
job, then prints markdown tables and the target checks and writes every raw number to ``--out``
(plus the same markdown next to it, ``.md``). See benchmarks/README.md for the columns.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import cli_startup, configs, kd_env, report, targets
from benchlib.configs import Config
from benchlib.execute import ChildRun, kd_child_command, kedro_child_command, run_child
from benchlib.handoff_events import summarise
from benchlib.projects import (
    EVENTS_ENV,
    Project,
    calibrate_loops,
    cpu_node_count,
    write_project,
)

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SIZES = (10, 100, 200, 1000, 5000)
QUICK_SIZES = (10, 200)
MARGINAL_RUNNERS = (
    "SequentialRunner",
    "kdr:in_process",
    "kdr:multiprocess",
    "kdr:dagster_in_process",
    "kd:in_process",
)


def log(message: str) -> None:
    """Progress goes to stderr; stdout carries the markdown report."""
    print(message, file=sys.stderr, flush=True)


def install_signal_handlers() -> None:
    """Turn SIGTERM (and SIGINT, ignored in background jobs) into exceptions.

    ``run_child`` then kills the running child's process group before the script exits.
    """

    def _exit(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="N=10,200, fewer runners (~3 min)")
    parser.add_argument("--sizes", default=None, help="comma-separated N (default 10,50,200,1000)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/latest.json")
    parser.add_argument("--timeout", type=float, default=600.0, help="per configuration, s")
    parser.add_argument(
        "--skip-over",
        type=float,
        default=None,
        help="skip a configuration whose predicted time exceeds this (default: --timeout)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs per configuration (best)")
    parser.add_argument(
        "--repeat-under",
        type=float,
        default=20.0,
        help="repeat only configurations whose wall is under this many seconds",
    )
    parser.add_argument("--cli-repeats", type=int, default=None, help="default 3 (quick: 1)")
    parser.add_argument("--no-kedro-dagster", action="store_true", help="skip kedro-dagster")
    parser.add_argument("--keep", action="store_true", help="keep the generated projects")
    parser.add_argument(
        "--from-json",
        type=Path,
        default=None,
        help="do not measure: rebuild the report (and target checks) from an earlier --out",
    )
    args = parser.parse_args(argv)
    if args.sizes:
        args.sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    else:
        args.sizes = list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    args.skip_over = args.skip_over or args.timeout
    args.cli_repeats = args.cli_repeats or (1 if args.quick else 3)
    return args


def _git(*command: str) -> str:
    done = subprocess.run(["git", *command], cwd=REPO, capture_output=True, text=True, check=False)
    return done.stdout.strip()


def environment() -> dict[str, Any]:
    """What the numbers were measured on."""
    from importlib import metadata

    versions = {}
    for name in ("kedro", "dagster", "kedro-dagster-runner", "numpy", "cloudpickle"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "versions": versions,
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": _git("status", "--porcelain", "--", "kedro_dagster_runner").splitlines(),
        "load_average_start": os.getloadavg(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }


class Bench:
    """Runs the matrix and keeps the results."""

    def __init__(self, args: argparse.Namespace, scratch: Path) -> None:
        self.args = args
        self.scratch = scratch
        self.done: list[Config] = []
        self.kd_python: Path | None = None
        self.kd_reason = "kedro-dagster disabled (--no-kedro-dagster)"

    def prepare_kedro_dagster(self) -> None:
        """Find or create the kedro-dagster venv (see benchlib/kd_env.py)."""
        if self.args.no_kedro_dagster:
            return
        self.kd_python, self.kd_reason = kd_env.ensure_venv(log)
        log(self.kd_reason)

    def _command(self, config: Config, project: Project, result_file: Path) -> list[str] | str:
        if config.runner.startswith("kd:"):
            if self.kd_python is None:
                return f"failed: {self.kd_reason}"
            mode = config.runner.split(":", 1)[1]
            return kd_child_command(self.kd_python, project.path, mode, result_file)
        return kedro_child_command(project.path, config.runner, result_file)

    def _skip_reason(self, config: Config) -> str | None:
        reason = configs.static_skip(config, self.args.quick)
        if reason:
            return reason
        predicted = configs.expected_seconds(config, self.done)
        if predicted and predicted[0] > self.args.skip_over:
            seconds, basis = predicted
            # linear scaling: a lower bound, since no runner here gets cheaper per node with N
            config.result["lower_bound_s"] = basis.result["wall_s"] * config.size / basis.size
            return (
                f"skipped: too slow (predicted {seconds:.0f} s from N={basis.size} "
                f"> {self.args.skip_over:.0f} s)"
            )
        return None

    def _attempt(self, config: Config, project: Project, attempt: int) -> ChildRun:
        """One child run of ``config``."""
        name = config.key.replace("/", "_").replace(":", "-") + f"_{attempt}"
        result_file = self.scratch / f"{name}.json"
        events = self.scratch / f"{name}.events.jsonl"
        log_file = self.scratch / f"{name}.log"
        command = self._command(config, project, result_file)
        if isinstance(command, str):
            return ChildRun(command, {}, 0.0, log_file)
        child = run_child(
            command,
            result_file,
            log_file,
            self.args.timeout,
            env={EVENTS_ENV: str(events)} if config.shape == "handoff" else None,
        )
        if child.status == "ok" and config.shape == "handoff":
            child.result["handoff"] = summarise(events)
        return child

    def run_config(self, config: Config, project: Project) -> None:
        """Measure one configuration, or record why it was not.

        Configurations faster than ``--repeat-under`` run ``--repeat`` times; the fastest run is
        kept (all walls are in ``samples``).
        """
        reason = self._skip_reason(config)
        if reason:
            config.status = reason
            return
        for attempt in range(self.args.repeat):
            child = self._attempt(config, project, attempt)
            if child.status != "ok":
                if config.ok:  # an earlier attempt succeeded: keep it, note this one
                    config.result.setdefault("failed_repeats", []).append(child.status)
                    return
                config.status, config.elapsed_s = child.status, child.elapsed_s
                if child.status.startswith("skipped"):
                    config.result["lower_bound_s"] = self.args.timeout
                return
            wall = child.result["wall_s"]
            config.samples.append(wall)
            if not config.ok or wall < config.result["wall_s"]:
                config.status, config.result, config.elapsed_s = "ok", child.result, child.elapsed_s
            if wall >= self.args.repeat_under:
                return

    def run_matrix(self, projects: dict[tuple[str, int], Project], node_seconds: float) -> None:
        """Every planned configuration, in order (small N first, so predictions have a basis)."""
        triples = configs.plan(
            self.args.sizes, cpu_node_count(), self.args.quick, not self.args.no_kedro_dagster
        )
        total = sum(len(runners) for _, _, runners in triples)
        for shape, size, runners in triples:
            for runner in runners:
                config = Config(shape=shape, size=size, runner=runner)
                config.load_average = os.getloadavg()[0]
                log(f"[{len(self.done) + 1}/{total}] {config.key} ...")
                self.run_config(config, projects[(shape, size)])
                self.done.append(config)
                overhead = report.overhead_ms(config, node_seconds)
                summary = (
                    f"wall {config.wall:.2f} s, {overhead:.1f} ms/node"
                    if config.wall is not None and overhead is not None
                    else config.status
                )
                log(f"    {summary}")


@contextmanager
def scratch_dir(keep: bool) -> Iterator[Path]:
    """A temporary directory for projects, results and logs; kept (and named) with --keep."""
    if keep:
        path = Path(tempfile.mkdtemp(prefix="kdr-bench-"))
        log(f"keeping projects and logs in {path}")
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="kdr-bench-") as tmp:
        yield Path(tmp)


def generate_projects(root: Path, sizes: list[int], loops: int) -> dict[tuple[str, int], Project]:
    """All projects the plan needs."""
    wanted = [(shape, size) for shape in ("chain", "fanout") for size in sizes]
    wanted += [("cpu", cpu_node_count()), ("handoff", 2)]
    return {(s, n): write_project(root, s, n, loops=loops) for s, n in wanted}


def run_build_job(scratch: Path, timeout: float) -> dict[str, Any]:
    """``build_job`` timing in a fresh interpreter (benchlib/child_build.py)."""
    result_file = scratch / "build_job.json"
    command = [sys.executable, "-m", "benchlib.child_build", "--nodes", str(targets.BUILD_NODES)]
    child = run_child(
        [*command, "--result", str(result_file)], result_file, scratch / "build_job.log", timeout
    )
    return child.result if child.status == "ok" else {"status": child.status}


PHASE_RUNNERS = ("SequentialRunner", "kdr:in_process", "kdr:multiprocess")


def run_phases(scratch: Path, project: Project, repeats: int, timeout: float) -> dict[str, Any]:
    """The fixed cost's phases (benchlib/child_phases.py) on ``project``, per runner: the
    phases of the repeat with the smallest total."""
    phases: dict[str, Any] = {}
    for runner in PHASE_RUNNERS:
        best: list[list[Any]] | None = None
        for attempt in range(repeats):
            result_file = scratch / f"phases_{runner.replace(':', '_')}_{attempt}.json"
            command = [
                sys.executable, "-m", "benchlib.child_phases", "--project", str(project.path),
                "--runner", runner, "--result", str(result_file),
            ]  # fmt: skip
            child = run_child(command, result_file, result_file.with_suffix(".log"), timeout)
            if child.status != "ok" or child.result.get("check") != "ok":
                phases[runner] = {"status": child.status, "check": child.result.get("check")}
                break
            seconds = child.result["phases_s"]  # [[phase, seconds, gc seconds], ...]
            if best is None or sum(e[1] for e in seconds) < sum(e[1] for e in best):
                best = seconds
        else:
            phases[runner] = best
    return phases


def run_extras(
    args: argparse.Namespace, scratch: Path, projects: dict[tuple[str, int], Project]
) -> dict[str, Any]:
    """The fixed cost's phases, the job-build timing and the CLI start-up comparison."""
    extras: dict[str, Any] = {}
    chain = projects.get(("chain", 10))
    if chain is not None:
        log(f"fixed-cost phases on the 10-node chain (best of {args.cli_repeats}) ...")
        extras["phases"] = run_phases(scratch, chain, args.cli_repeats, args.timeout)
    log(f"build_job for {targets.BUILD_NODES} nodes ...")
    extras["build_job"] = run_build_job(scratch, args.timeout)
    log(f"kedro run start-up on spaceflights (best of {args.cli_repeats}) ...")
    try:
        extras["cli_startup"] = cli_startup.measure(scratch, repeats=args.cli_repeats)
    except (RuntimeError, OSError) as exc:
        extras["cli_startup"] = {"status": f"failed: {exc}"}
    return extras


def render(payload: dict[str, Any], done: list[Config], checks: list[targets.Check]) -> str:
    """The whole markdown report of a payload (see :func:`measure`)."""
    sizes = payload["args"]["sizes"]
    node_seconds = payload["cpu"]["node_seconds"]
    extras = payload["extras"]
    parts = [
        "## Runs\n",
        report.main_table(done, node_seconds),
        f"\ncpu: {payload['cpu']['nodes']} nodes of {node_seconds:.3f} s (CPU time, measured "
        f"once in the parent) each; ideal = {node_seconds:.3f} s x ceil(N / 2).\n",
        "## Marginal cost per node, ms: (wall(N2) - wall(N1)) / (N2 - N1)\n",
        report.marginal_table(done, sizes, MARGINAL_RUNNERS),
        "\n## 200 MB handoff\n",
        report.handoff_table(done),
    ]
    kd_table = report.kd_build_table(done)
    if kd_table:
        parts += ["\n## kedro-dagster translation time (not in its wall time)\n", kd_table]
    parts += [
        "\n## Where the fixed cost goes: 10-node chain, one fresh interpreter per run, s\n",
        report.phases_table(extras.get("phases", {})),
        "\n## Start-up, job build, memory\n",
        report.extras_lines(extras, done, max(sizes)),
        "\n## Targets\n",
        targets.targets_table(checks),
    ]
    return "\n".join(parts) + "\n"


def measure(args: argparse.Namespace, argv: list[str] | None) -> dict[str, Any]:
    """Run the whole matrix and the extras; every raw number, ready for JSON."""
    started = time.perf_counter()
    meta = environment()
    loops, node_seconds = calibrate_loops()
    log(f"cpu node: sum(range({loops})) takes {node_seconds:.3f} s of CPU here")
    with scratch_dir(args.keep) as scratch:
        bench = Bench(args, scratch)
        bench.prepare_kedro_dagster()
        projects = generate_projects(scratch / "projects", args.sizes, loops)
        bench.run_matrix(projects, node_seconds)
        extras = run_extras(args, scratch, projects)
    meta.update(
        load_average_end=os.getloadavg(),
        total_s=time.perf_counter() - started,
        command=" ".join(["python", "benchmarks/run.py", *(argv or sys.argv[1:])]),
        kedro_dagster=bench.kd_reason,
        kedro_dagster_fit=kd_env.load_fit_report(),
    )
    return {
        "meta": meta,
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "cpu": {"loops": loops, "node_seconds": node_seconds, "nodes": cpu_node_count()},
        "configs": [dataclasses.asdict(c) for c in bench.done],
        "extras": extras,
    }


def publish(payload: dict[str, Any], out: Path) -> None:
    """Check the targets, print the report and write ``out`` (JSON) and its ``.md``."""
    done = [Config(**c) for c in payload["configs"]]
    checks = targets.evaluate(
        done,
        payload["extras"],
        payload["cpu"]["node_seconds"],
        payload["args"]["sizes"],
        payload["cpu"]["nodes"],
    )
    payload["targets"] = [
        dict(zip(("target", "measured", "verdict"), check, strict=True)) for check in checks
    ]
    markdown = render(payload, done, checks)
    print(markdown)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=1, sort_keys=True), encoding="utf-8")
    out.with_suffix(".md").write_text(markdown, encoding="utf-8")
    log(f"wrote {out} and {out.with_suffix('.md')}")


def main(argv: list[str] | None = None) -> int:
    """Run everything (or reload ``--from-json``), print the report, write the JSON."""
    args = parse_args(argv)
    install_signal_handlers()
    os.environ["KEDRO_DISABLE_TELEMETRY"] = "true"
    if args.from_json:
        payload = json.loads(args.from_json.read_text(encoding="utf-8"))
    else:
        payload = measure(args, argv)
    publish(payload, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
