"""Translation between Kedro names (nodes, datasets, pipelines) and Dagster names.

Dagster names must match ``^[A-Za-z0-9_]+$``. The mapping is:

* ``.`` (Kedro's namespace separator) becomes ``__``;
* any other character outside ``[A-Za-z0-9_]`` becomes ``_x<hex code>_``.

``dagster_name`` is injective on names that contain neither ``__`` nor ``_x`` followed by hex
digits and ``_``, which covers Kedro's generated and namespaced names; ``kedro_name`` inverts it.
Because a user may still write such names, the job factory keeps an explicit op-name -> node-name
table in the run spec and resolves clashes there (see ``unique_op_names``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

_VALID = re.compile(r"[A-Za-z0-9_]")
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


def asset_key_path(dataset_name: str) -> list[str]:
    """The Dagster asset key (as a path) of a Kedro dataset."""
    return [dagster_name(dataset_name)]


def kedro_name(name: str) -> str:
    """Invert :func:`dagster_name` for names produced by it."""
    unescaped = _ESCAPE.sub(lambda match: chr(int(match.group(1), 16)), name)
    return unescaped.replace("__", ".")


def job_name_for(pipeline_names: Iterable[str]) -> str:
    """The Dagster job name of a run of these Kedro pipelines: ``kedro_<name>[_<name>...]``."""
    return "kedro_" + "_".join(dagster_name(name).strip("_") or "_" for name in pipeline_names)


def unique_op_names(node_names: Iterable[str]) -> dict[str, str]:
    """Map each node name to a distinct op name; clashing names get a short stable hash suffix."""
    by_op: dict[str, list[str]] = {}
    for node_name in node_names:
        by_op.setdefault(dagster_name(node_name), []).append(node_name)
    result: dict[str, str] = {}
    for op_name, owners in by_op.items():
        if len(owners) == 1:
            result[owners[0]] = op_name
            continue
        for owner in owners:
            digest = hashlib.sha1(owner.encode()).hexdigest()[:8]
            result[owner] = f"{op_name}_{digest}"
    return result
