"""Secrets in this process's environment, for a block only.

The instance's password and a run's secret variables are set in the ``kedro run`` process for
the run (:func:`exported`); the instance's password is withheld from processes that only run
nodes (:func:`withheld`): they inherit the environment of the moment they start. (The secret
variables of an executor's options stay: node code may need them, as in its containers.)
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager


@contextmanager
def exported(variables: Mapping[str, str]) -> Iterator[None]:
    """Set ``variables`` in this process's environment for the block, then restore it."""
    previous = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        _restore(previous)


@contextmanager
def withheld(names: Iterable[str]) -> Iterator[None]:
    """Unset ``names`` for the block (processes started in it do not inherit them), then
    restore them."""
    previous = {name: os.environ.pop(name) for name in list(names) if name in os.environ}
    try:
        yield
    finally:
        _restore(previous)


def _restore(previous: Mapping[str, str | None]) -> None:
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
