"""Checking ``runner.handoff`` before a run: a location the run's store can be created under.

The store itself is created later (``driver/plan.py``) through fsspec; done blindly, a bad value
surfaces as fsspec's or the OS's own error (``ValueError: Protocol not known``, ``ImportError``,
``NotADirectoryError``) once the run has started. This check reads nothing remote and creates
nothing: it loads the fsspec implementation of each protocol in the value and, for a local path,
looks at the nearest existing folder.
"""

from __future__ import annotations

import difflib
import importlib
import os
from pathlib import Path

REMOVE_HINT = "or remove runner.handoff to use a temporary directory"


def handoff_problem(value: str) -> str | None:
    """What is wrong with ``runner.handoff: value`` (``None`` when the store can go there).

    Args:
        value: A local directory or an fsspec URI, possibly chained (``simplecache::s3://...``).
    """
    from fsspec.core import split_protocol

    chained = "::" in value
    bits = value.split("::") if chained else [value]
    for bit in bits:
        # As fsspec does for chained URLs: a bare name is a protocol ("simplecache").
        protocol = split_protocol(bit if "://" in bit or not chained else f"{bit}://")[0]
        problem = _protocol_problem(value, protocol or "file")
        if problem is not None:
            return problem
    protocol, path = split_protocol(value)
    if chained or (protocol or "file") not in ("file", "local"):
        return None
    return _local_problem(value, Path(path))


def _protocol_problem(value: str, protocol: str) -> str | None:
    """The fsspec implementation of ``protocol`` is unknown or its package is not installed."""
    import fsspec

    try:
        fsspec.get_filesystem_class(protocol)
    except ValueError:
        known = fsspec.available_protocols()
        close = difflib.get_close_matches(protocol, known, n=1)
        hint = f"did you mean {close[0]}://? " if close else ""
        return (
            f"{value!r} uses the protocol '{protocol}', which fsspec does not know; {hint}"
            "use a local directory or an fsspec URI (s3://, gcs://, abfs://, ...)"
        )
    except ImportError as exc:
        package = _missing_package(protocol, exc)
        if package is None:
            return f"{value!r} needs fsspec's '{protocol}' protocol, which cannot load: {exc}"
        return (
            f"{value!r} needs the {package} package (fsspec's '{protocol}' protocol), which is "
            f"not installed here: pip install {package}"
        )
    return None


def _missing_package(protocol: str, error: ImportError) -> str | None:
    """The package to install for ``protocol``: the module that failed to import (``s3fs``,
    or ``paramiko`` behind fsspec's own ``sftp``), else the one fsspec's registry names."""
    missing = getattr(error.__cause__, "name", None) or error.name
    if missing:
        return str(missing).split(".", 1)[0]
    registry = importlib.import_module("fsspec.registry")  # ``fsspec.registry`` is shadowed
    entry = registry.known_implementations.get(protocol) or {}
    package = str(entry.get("class", "")).split(".", 1)[0]
    return package if package and package != "fsspec" else None


def _local_problem(value: str, path: Path) -> str | None:
    """A local path must be, or be creatable as, a folder this user can write in."""
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is None:  # nothing exists, not even the root: let the run report it
        return None
    if not existing.is_dir():
        where = "is a file" if existing == path else f"is under {str(existing)!r}, a file"
        return f"{value!r} {where}, not a directory; set it to a directory ({REMOVE_HINT})"
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "is" if existing == path else f"would be created in {str(existing)!r}, which is"
        return f"{value!r} {what} not writable by this user; choose another directory"
    return None
