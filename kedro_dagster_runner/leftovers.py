"""What a dead ``kedro run`` leaves behind, cleaned up by the next one.

A driver killed with SIGKILL runs no ``finally``: its temporary directories (the run's store,
a throw-away instance, multiprocessing's ``pymp-*`` folder) stay, and the run it was executing
stays STARTED in a persistent instance. So the driver marks what it owns:

* each temporary directory it creates gets an owner file naming this host and process
  (:func:`claim`); :func:`sweep` removes directories whose owner process is gone;
* each attached run carries :data:`DRIVER_HOST_TAG` / :data:`DRIVER_PROCESS_TAG`;
  :func:`fail_orphaned_runs` marks FAILURE the unfinished runs of dead drivers of this host.

A process is identified by its PID and start time (``/proc/<pid>/stat``), so a reused PID is not
taken for the dead driver. Only directories and runs of this host *and* PID namespace are judged
(:func:`this_host`): a container or pod on the same host (host networking gives it the host's
name) cannot see the driver's process and must not take it for dead.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dagster import DagsterInstance

OWNER_FILE = ".kedro-dagster-owner"
TEMP_PREFIXES = ("kedro-dagster-handoff-", "kedro-dagster-instance-", "pymp-")
"""Temporary directories of a run that :func:`sweep` looks at (only those with an owner file)."""
SHARED_MEMORY = Path("/dev/shm")
DRIVER_HOST_TAG = "kedro-dagster-runner/driver-host"
DRIVER_PROCESS_TAG = "kedro-dagster-runner/driver-process"

_LOGGER = logging.getLogger(__name__)


def _start_time(pid: int) -> str:
    """The start time of process ``pid`` in clock ticks since boot; ``""`` where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


@lru_cache(maxsize=1)
def this_host() -> str:
    """``<hostname>/<PID namespace>``: where :func:`this_process` identities can be checked."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return f"{socket.gethostname()}/{namespace}"


def this_process() -> str:
    """``<pid>:<start time>`` of this process."""
    return f"{os.getpid()}:{_start_time(os.getpid())}"


def process_alive(identity: str) -> bool:
    """True when the process ``identity`` (from :func:`this_process`, on this host) runs."""
    pid_text, _, started = identity.partition(":")
    try:
        pid = int(pid_text)
        os.kill(pid, 0)
    except ValueError:
        return True  # not ours to judge
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    return not started or _start_time(pid) in (started, "")


def driver_tags() -> dict[str, str]:
    """Run tags naming this process as the run's driver."""
    return {DRIVER_HOST_TAG: this_host(), DRIVER_PROCESS_TAG: this_process()}


def claim(directory: str | Path) -> None:
    """Mark ``directory`` as this process's (removed by :func:`sweep` once this process died)."""
    path = Path(directory) / OWNER_FILE
    path.write_text(f"{this_host()}\n{this_process()}\n")
    path.chmod(0o600)


def owner_of(directory: Path) -> tuple[str, str] | None:
    """``(host, process identity)`` of the process that claimed ``directory``, if any."""
    try:
        host, identity = (directory / OWNER_FILE).read_text().split()[:2]
    except (OSError, ValueError):
        return None
    return host, identity


def owner_dead(directory: Path, owner: tuple[str, str] | None = None) -> bool:
    """True when ``directory`` was claimed by a process of this host that has ended
    (``owner``: its :func:`owner_of`, when the caller has it already)."""
    owner = owner or owner_of(directory)
    return owner is not None and owner[0] == this_host() and not process_alive(owner[1])


def sweep(roots: Iterable[str | Path] = ()) -> list[Path]:
    """Remove the claimed directories of dead drivers: the run directories
    (:data:`TEMP_PREFIXES`) of the temp dir and of ``/dev/shm``, and the run stores under each
    of ``roots`` (local ``runner.handoff`` folders). Returns what was removed; problems are
    logged, never raised."""
    temps = {Path(tempfile.gettempdir()), SHARED_MEMORY}  # stores of local runs: /dev/shm
    candidates = [
        path for temp in temps for prefix in TEMP_PREFIXES for path in temp.glob(f"{prefix}*")
    ]
    for root in roots:
        candidates.extend(Path(root).glob("*"))
    removed = []
    for directory in candidates:
        if directory.is_dir() and not directory.is_symlink() and owner_dead(directory):
            shutil.rmtree(directory, ignore_errors=True)
            removed.append(directory)
    if removed:
        _LOGGER.info(
            "Removed what %d run(s) of kedro run processes that died left behind: %s",
            len(removed),
            ", ".join(str(path) for path in removed),
        )
    return removed


def fail_orphaned_runs(instance: DagsterInstance) -> list[str]:
    """Mark FAILURE the unfinished runs of ``instance`` whose driver, on this host, died.

    Returns their Dagster run ids.
    """
    from dagster import DagsterRunStatus, RunsFilter

    unfinished = [DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]
    host = this_host()
    runs = instance.get_runs(filters=RunsFilter(statuses=unfinished, tags={DRIVER_HOST_TAG: host}))
    failed = []
    for run in runs:
        identity = run.tags.get(DRIVER_PROCESS_TAG)
        if identity is None or process_alive(identity):
            continue
        instance.report_run_failed(
            run,
            message=(
                f"The kedro run process that executed this run (pid {identity.partition(':')[0]} "
                f"on {socket.gethostname()}) died before the run ended; marked failed by a "
                "later kedro run."
            ),
        )
        failed.append(run.run_id)
    if failed:
        _LOGGER.warning(
            "Marked FAILURE %d Dagster run(s) whose kedro run process died: %s",
            len(failed),
            ", ".join(failed),
        )
    return failed
