"""Helpers for reading executor entries written in kedro-dagster's shape (``docker_executor``,
``k8s_job_executor``, ...) as options of the package's kinds (:meth:`ExecutorKind.
adopt_kedro_dagster`). Each kind maps its own keys; this module holds what several share.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kedro_dagster_runner.executors.base import Adopted


def split_env_vars(values: Iterable[str]) -> tuple[list[str], str | None]:
    """kedro-dagster's ``env_vars`` (``NAME`` or ``NAME=VALUE``): the names, and why the entry
    cannot run as written when it sets values (``None`` when it does not).

    A value written in dagster.yml would be stored by Dagster with the run (its run config):
    the package passes variables by name only, their values coming from ``kedro run``'s
    environment.
    """
    names = [value for value in values if "=" not in value]
    valued = [value.split("=", 1)[0] for value in values if "=" in value]
    if not valued:
        return names, None
    return names, (
        f"env_vars sets values in dagster.yml ({', '.join(valued)}), which Dagster would store "
        "with the run: export them in the kedro run process and list their names only"
    )


def adopt(
    options: Mapping[str, Any],
    *,
    renamed: Mapping[str, str] | None = None,
    handled: Iterable[str] = (),
    ignored: Mapping[str, str] | None = None,
    refusal: str | None = None,
    extra: Mapping[str, Any] | None = None,
    nested_ignored: Mapping[str, str] | None = None,
) -> Adopted:
    """The kind's options from ``options``: keys in ``renamed`` (kedro-dagster key -> the
    kind's) renamed, keys in ``handled`` left out (the caller mapped them into ``extra``), keys
    in ``ignored`` set aside with their reasons, the rest passed as they are (the kind's model
    judges them). Keys whose value is ``None`` (kedro-dagster's "unset") are dropped.
    ``nested_ignored`` names settings inside handled keys the caller set aside
    (``container_kwargs.shm_size``), with their reasons.
    """
    renamed, ignored, handled = renamed or {}, ignored or {}, set(handled)
    taken: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    for key, value in options.items():
        if value is None or key in handled:
            continue
        if key in ignored:
            skipped[key] = ignored[key]
        else:
            taken[renamed.get(key, key)] = value
    taken.update(extra or {})
    return Adopted(taken, {**skipped, **(nested_ignored or {})}, refusal)
