"""Local worker processes end with their driver: nothing keeps running after ``kedro run`` dies.

A ``kedro run`` killed with SIGKILL (the OOM killer, ``kill -9``) cannot stop its pool: its
workers are reparented to PID 1 and would go on running queued nodes for a run nobody follows.
:func:`exit_with_driver` makes a worker leave as soon as the driver process ends, whoever its
parent is (a forkserver child's parent is the forkserver, not the driver).
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time

EXIT_CODE = 70
"""Exit status of a worker that left because its driver died."""
_POLL_SECONDS = 0.5


def exit_with_driver(driver_pid: int) -> None:
    """Leave this process (``os._exit``) when process ``driver_pid`` ends.

    Watches a pidfd of the driver from a daemon thread (Linux 5.3+, no PID-reuse race); where
    there is none, polls the driver's PID every half second. A driver already gone: exit now.
    """
    try:
        descriptor = os.pidfd_open(driver_pid)
    except ProcessLookupError:
        os._exit(EXIT_CODE)
    except (AttributeError, OSError):  # no pidfd here: poll
        target = _poll_until_gone
        arguments: tuple[int, ...] = (driver_pid,)
    else:
        target = _wait_on_pidfd
        arguments = (descriptor,)
    threading.Thread(
        target=target, args=arguments, name="kedro-dagster-driver-watch", daemon=True
    ).start()


def _wait_on_pidfd(descriptor: int) -> None:
    select.select([descriptor], [], [])  # readable once the process has ended
    os._exit(EXIT_CODE)


def _poll_until_gone(driver_pid: int) -> None:
    while True:
        time.sleep(_POLL_SECONDS)
        with contextlib.suppress(PermissionError):  # alive, owned by someone else
            try:
                os.kill(driver_pid, 0)
            except ProcessLookupError:
                os._exit(EXIT_CODE)
