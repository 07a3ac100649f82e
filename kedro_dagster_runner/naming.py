"""Translation between Kedro names (nodes, datasets, pipelines) and Dagster names.

Dagster names must match ``^[A-Za-z0-9_]+$``. The mapping is:

* ``.`` (Kedro's namespace separator) becomes ``__``;
* any other character outside ``[A-Za-z0-9_]`` becomes ``_x<hex code>_``.

``dagster_name`` is injective on names that contain neither ``__`` nor ``_x`` followed by hex
digits and ``_``, which covers Kedro's generated and namespaced names; ``kedro_name`` inverts it.
Because a user may still write such names, the job factory keeps an explicit op-name -> node-name
table in the run spec and resolves clashes there (see ``unique_op_names``), and names op inputs and
outputs with :func:`unique_io_names`, which also steers clear of the names Dagster reserves
(``input``, ``config``, ``type``, Python keywords, ...).

Transcoded datasets (``df@pandas``, ``df@spark``) are one dataset to Kedro: dependencies and
asset keys use the name without the transcoding suffix (:func:`strip_transcoding`).
"""

from __future__ import annotations

import hashlib
import keyword
import re
from collections.abc import Callable, Iterable

_VALID = re.compile(r"[A-Za-z0-9_]")
TRANSCODING_SEPARATOR = "@"

# Names Dagster refuses for inputs and outputs (its DISALLOWED_NAMES, checked by
# tests/test_naming.py against the installed release) and Python's keywords.
RESERVED_NAMES = frozenset(
    {
        *keyword.kwlist,
        *("arg_dict", "bool", "conf", "config", "context", "dict", "float", "input"),
        *("input_arg_dict", "int", "meta", "output", "output_arg_dict", "str", "type"),
    }
)
_ESCAPE = re.compile(r"_x([0-9a-f]+)_")


def dagster_name(kedro_name: str) -> str:
    """Return the Dagster-safe name for a Kedro node, dataset or pipeline name."""
    out: list[str] = []
    for char in kedro_name:
        if char == ".":
            out.append("__")
        elif _VALID.fullmatch(char):
            out.append(char)
        else:
            out.append(f"_x{ord(char):x}_")
    return "".join(out) or "_"


def strip_transcoding(dataset_name: str) -> str:
    """The dataset behind a transcoded name: ``df@pandas`` -> ``df`` (others unchanged)."""
    return dataset_name.split(TRANSCODING_SEPARATOR, 1)[0]


def asset_key_path(dataset_name: str) -> list[str]:
    """The Dagster asset key (as a path) of a Kedro dataset; transcoded names share one."""
    return [dagster_name(strip_transcoding(dataset_name))]


def kedro_name(name: str) -> str:
    """Invert :func:`dagster_name` for names produced by it."""
    unescaped = _ESCAPE.sub(lambda match: chr(int(match.group(1), 16)), name)
    return unescaped.replace("__", ".")


def job_name_for(pipeline_names: Iterable[str]) -> str:
    """The Dagster job name of a run of these Kedro pipelines: ``kedro_<name>[_<name>...]``."""
    return "kedro_" + "_".join(dagster_name(name).strip("_") or "_" for name in pipeline_names)


def _distinct(names: Iterable[str], base: Callable[[str], str]) -> dict[str, str]:
    """Map each name to ``base(name)``; names whose bases clash get a short stable hash suffix."""
    by_base: dict[str, list[str]] = {}
    for name in dict.fromkeys(names):
        by_base.setdefault(base(name), []).append(name)
    result: dict[str, str] = {}
    for safe, owners in by_base.items():
        if len(owners) == 1:
            result[owners[0]] = safe
            continue
        for owner in owners:
            digest = hashlib.sha1(owner.encode()).hexdigest()[:8]
            result[owner] = f"{safe}_{digest}"
    return result


def unique_op_names(node_names: Iterable[str]) -> dict[str, str]:
    """Map each node name to a distinct op name; clashing names get a short stable hash suffix."""
    return _distinct(node_names, dagster_name)


def unique_step_names(steps: Iterable[tuple[str, str | None]]) -> dict[tuple[str, str | None], str]:
    """Map each ``(node name, partition key or None)`` to a distinct op name: the node's, with
    ``__<key>`` for one partition of a fanned-out node; clashes get a short stable hash suffix."""
    encoded = {(node if key is None else f"{node}\x00{key}"): (node, key) for node, key in steps}

    def base(name: str) -> str:
        node, _, key = name.partition("\x00")
        return dagster_name(node) + (f"__{re.sub(r'[^A-Za-z0-9_]', '_', key)}" if key else "")

    return {encoded[name]: op for name, op in _distinct(encoded, base).items()}


def _io_base(dataset_name: str) -> str:
    name = dagster_name(dataset_name)
    return f"{name}_" if name in RESERVED_NAMES else name


def unique_io_names(dataset_names: Iterable[str]) -> dict[str, str]:
    """Map each dataset name to a distinct name for op inputs and outputs.

    Names Dagster reserves get a trailing ``_`` (``input`` -> ``input_``); names that still clash
    (``a.b`` and ``a__b`` both escape to ``a__b``) get a short stable hash suffix, so no edge
    between ops is lost.
    """
    return _distinct(dataset_names, _io_base)
