"""Python's cyclic garbage collector while the first run of a process imports Dagster.

Importing Dagster and the storage packages every Dagster instance imports creates some 300,000
objects (modules, classes, functions, Pydantic schemas), none of them garbage. CPython's
collector still runs a full collection each time its old generation grows by a quarter, so
during those imports it walks the growing heap several times over, and once more when the
process exits: on the project's machine that was a quarter of a 10-node run's fixed cost, on top
of the imports themselves (``docs/performance.md``).

So, in a process that has not imported Dagster yet (a ``kedro run``, or a notebook's first run):

* :func:`paused_for_imports` pauses the collector for the run's set-up (configuration, Kedro's
  input checks and dataset warm-up, plan, publishing, the executor's warm-up, then the Dagster
  imports); no node and no hook runs then, but dataset constructors, ``exists()`` checks and
  the process's other threads do, with the collector off;
* :func:`imports_done` ends the pause once Dagster and its instance storage are imported: every
  object alive then is frozen (``gc.freeze``), so later collections, and the one at exit, skip
  them, and the collector is turned back on before the job is built and any node runs;
* the next run of the same process gives the frozen objects back to the collector before it
  starts (and pauses nothing: Dagster is imported by then). So what was alive at the first
  run's freeze, the imports and whatever the process held, is out of collection only until the
  process's next run, or its end.

A process whose collector is off, or that froze objects of its own, is left as it is; one that
freezes objects after a run keeps them frozen (the next run gives nothing back). A child
forked during the pause (the ``multiprocess`` pool forks before the driver imports Dagster)
freezes what it inherited and turns its collector back on as it starts. Reference counting frees
everything without cycles throughout; only cyclic garbage made during the pause waits.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from kedro_dagster_runner import _compat


class _CollectorState:
    """What this module did to the collector of this process (one instance, :data:`_STATE`).

    The flags change in an order that keeps every moment safe for a fork from another thread:
    ``paused`` is set before the collector goes off and cleared after it is back on, so a child
    forked in between turns it on.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.paused = False
        """True while this module keeps the collector off."""
        self.own_freeze: tuple[int, int] | None = None
        """``(pid, gc.get_freeze_count())`` right after this module froze objects, until they
        are given back."""

    def pause(self) -> None:
        """Turn the collector off."""
        self.paused = True
        gc.disable()

    def resume(self, freeze: bool) -> None:
        """End a pause of this module's (if one is on), freezing what is alive first; the
        collector is back on whatever happens (a Ctrl-C included)."""
        if not self.paused:
            return
        try:
            if freeze:
                gc.freeze()
                self.own_freeze = (os.getpid(), gc.get_freeze_count())
        finally:
            gc.enable()
            self.paused = False

    def give_back_frozen(self) -> None:
        """Return the objects an earlier run of this process froze to the collector, unless
        more were frozen since (by the process itself: they stay as it left them)."""
        own_freeze, self.own_freeze = self.own_freeze, None
        if own_freeze is None:
            return
        pid, count = own_freeze  # frozen objects that are freed leave the count
        if pid == os.getpid() and gc.get_freeze_count() <= count:
            gc.unfreeze()


_STATE = _CollectorState()


def _resume_in_child() -> None:
    """In a forked child: turn the collector back on if it was forked during the pause, with a
    new lock (the parent's may have been held by one of its other threads). What the child
    inherited stays frozen: the parent holds it, and collecting it in the child would only
    walk it (and copy the pages it touches)."""
    _STATE.lock = threading.Lock()
    _STATE.resume(freeze=True)


if hasattr(os, "register_at_fork"):  # not on Windows, which does not fork
    os.register_at_fork(after_in_child=_resume_in_child)


@contextmanager
def paused_for_imports() -> Iterator[None]:
    """Pause the collector for a run's set-up, when Dagster is still to be imported.

    The pause ends at :func:`imports_done`, or at the latest when the block ends (without
    freezing anything, e.g. when the set-up fails). Nothing is paused when Dagster is imported
    already, the collector is off, or objects are frozen by someone else.
    """
    with _STATE.lock:
        _STATE.give_back_frozen()
        pause = (
            "dagster" not in sys.modules
            and not _STATE.paused
            and gc.isenabled()
            and gc.get_freeze_count() == 0
        )
        if pause:
            _STATE.pause()
    try:
        yield
    finally:
        if pause:
            with _STATE.lock:
                _STATE.resume(freeze=False)


def imports_done() -> None:
    """Import Dagster and the storage packages of any Dagster instance, then, when the collector
    is paused by :func:`paused_for_imports`, freeze every object alive and resume collection.

    Called by the run path after the executor's warm-up (the ``multiprocess`` pool forks before
    Dagster is imported) and before the job is built.
    """
    _compat.import_instance_storage()
    with _STATE.lock:
        _STATE.resume(freeze=True)
