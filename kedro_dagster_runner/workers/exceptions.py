"""Sending a node's exception to another process with its type intact.

Pickle rebuilds an exception by calling its class with the exception's ``args``. A class whose
``__init__`` takes other arguments (``def __init__(self, code, message)`` passing only
``message`` on) pickles, but fails to unpickle with a ``TypeError``, and Kedro's caller would
get that instead of the node's error. :func:`pack` keeps the class, the ``args`` and the
instance attributes apart from the whole; :func:`unpack` tries the whole first and otherwise
rebuilds the exception without calling ``__init__`` (``BaseException.__new__`` sets ``args``).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass

import cloudpickle


@dataclass(frozen=True)
class PackedException:
    """An exception in pickled parts; a part that did not pickle is ``None``."""

    whole: bytes | None
    exception_class: bytes | None
    args: bytes | None
    attributes: bytes | None


def _dumps(value: object) -> bytes | None:
    try:
        return cloudpickle.dumps(value)
    except Exception:  # a part that does not pickle: the others may still rebuild it
        return None


def pack(error: BaseException) -> PackedException:
    """The parts of ``error`` another process can rebuild it from."""
    return PackedException(
        whole=_dumps(error),
        exception_class=_dumps(type(error)),
        args=_dumps(error.args),
        attributes=_dumps(dict(vars(error))),
    )


def unpack(packed: PackedException) -> BaseException | None:
    """The exception packed by :func:`pack`, or ``None`` when it cannot be rebuilt here (its
    class is not importable in this process, or its parts did not pickle)."""
    if packed.whole is not None:
        try:
            return pickle.loads(packed.whole)
        except Exception:  # e.g. an __init__ whose arguments differ from args
            pass
    if packed.exception_class is None or packed.args is None:
        return None
    try:
        exception_class = pickle.loads(packed.exception_class)
        error = exception_class.__new__(exception_class, *pickle.loads(packed.args))
        if packed.attributes is not None:
            vars(error).update(pickle.loads(packed.attributes))
    except Exception:  # the class is not importable here, or refuses __new__
        return None
    return error if isinstance(error, BaseException) else None
