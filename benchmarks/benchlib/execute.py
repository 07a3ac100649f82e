"""Launching benchmark children: a fresh interpreter per configuration, with a timeout."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ChildRun:
    """What one child process produced."""

    status: str  # ok | failed: <reason>
    result: dict[str, Any]
    elapsed_s: float
    log: Path


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a child: ours, telemetry off, ``benchlib`` importable, and Python
    allowed to cache bytecode (some sandboxes set ``PYTHONDONTWRITEBYTECODE``, which makes every
    fresh interpreter compile the editable package and the generated projects again: not what a
    user's ``kedro run`` pays)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["KEDRO_DISABLE_TELEMETRY"] = "true"
    env["DO_NOT_TRACK"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BENCH_DIR), env.get("PYTHONPATH")]))
    env.update(extra or {})
    return env


def _failure_reason(log: Path, returncode: int) -> str:
    """The last meaningful line of the child's log (usually the exception)."""
    lines = [line.strip(" │\t") for line in log.read_text(errors="replace").splitlines()]
    lines = [line for line in lines if line and not set(line) <= set("─╭╮╰╯│ ")]
    for line in reversed(lines):
        if "Error" in line or "Exception" in line:
            return line[:200]
    return f"exit status {returncode}" + (f": {lines[-1][:160]}" if lines else "")


class GroupSampler:
    """Peak RSS (``VmHWM``) of the processes a child starts, sampled from ``/proc``.

    ``RUSAGE_CHILDREN`` counts a child that was forked and then exec'd (a forkserver, a spawned
    process, ``git``) with the RSS it inherited from the driver at fork time, so for
    multi-process runs it reports the driver's size rather than the workers'. This samples the
    ``VmHWM`` of every process in the child's process group except the child itself, every
    ``interval`` seconds; processes living less than that may be missed.
    """

    def __init__(self, group: int, interval: float = 0.25) -> None:
        self.group = group
        self.interval = interval
        self.peaks_kb: dict[int, int] = {}

    def sample(self) -> None:
        """Record the current ``VmHWM`` of the group's processes."""
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == self.group:
                continue
            try:
                if os.getpgid(int(entry.name)) != self.group:
                    continue
                status = (entry / "status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    pid = int(entry.name)
                    self.peaks_kb[pid] = max(self.peaks_kb.get(pid, 0), int(line.split()[1]))

    def wait(self, process: subprocess.Popen[bytes], timeout: float) -> int:
        """``process.wait(timeout)``, sampling meanwhile."""
        deadline = time.perf_counter() + timeout
        while True:
            try:
                return process.wait(timeout=self.interval)
            except subprocess.TimeoutExpired:
                if time.perf_counter() > deadline:
                    raise
                self.sample()

    def peak_mb(self) -> float | None:
        """The largest sampled peak, in MB, or None when no process was seen."""
        return max(self.peaks_kb.values()) / 1024 if self.peaks_kb else None


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill the child and everything it started (it leads its own process group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def run_child(
    command: list[str],
    result_file: Path,
    log: Path,
    timeout: float,
    env: dict[str, str] | None = None,
) -> ChildRun:
    """Run ``command`` (which writes ``result_file``) in its own process group, with a timeout."""
    result_file.unlink(missing_ok=True)
    started = time.perf_counter()
    with log.open("wb") as stream:
        process = subprocess.Popen(
            command,
            stdout=stream,
            stderr=subprocess.STDOUT,
            env=child_env(env),
            cwd=BENCH_DIR,
            start_new_session=True,
        )
        sampler = GroupSampler(process.pid)
        try:
            returncode = sampler.wait(process, timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            elapsed = time.perf_counter() - started
            return ChildRun(
                f"skipped: too slow (over the {timeout:.0f} s timeout)", {}, elapsed, log
            )
        except BaseException:
            _kill_group(process)
            raise
    elapsed = time.perf_counter() - started
    if returncode != 0 or not result_file.exists():
        return ChildRun(f"failed: {_failure_reason(log, returncode)}", {}, elapsed, log)
    result = json.loads(result_file.read_text())
    result["workers_sampled_peak_mb"] = sampler.peak_mb()
    result["worker_processes_sampled"] = len(sampler.peaks_kb)
    status = "ok" if result.get("check") == "ok" else f"failed: {result.get('check')}"
    return ChildRun(status, result, elapsed, log)


def kedro_child_command(project: Path, runner: str, result_file: Path) -> list[str]:
    """Command line of :mod:`benchlib.child_kedro`."""
    return [
        sys.executable,
        "-m",
        "benchlib.child_kedro",
        "--project",
        str(project),
        "--runner",
        runner,
        "--result",
        str(result_file),
    ]


def kd_child_command(python: Path, project: Path, mode: str, result_file: Path) -> list[str]:
    """Command line of :mod:`benchlib.child_kd` under the kedro-dagster venv."""
    return [
        str(python),
        "-m",
        "benchlib.child_kd",
        "--project",
        str(project),
        "--mode",
        mode,
        "--result",
        str(result_file),
    ]
