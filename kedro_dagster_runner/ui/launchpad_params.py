"""Kedro parameters in the launchpad: typed run config for the code location's jobs.

Every code-location job has a resource ``kedro_params`` whose config schema is derived from the
project's parameters (``conf/<env>/parameters*.yml``): one field per parameter, typed after its
value (booleans, integers, floats, strings, nested mappings; anything else as ``Any``), with
the value as default. The launchpad shows and type-checks it; a run launched with other values
gets them as Kedro runtime parameters, exactly as ``kedro run --params`` would pass them (only the
values that differ from the project's, so nothing else is overridden).

Keys that are not Python identifiers are left out of the schema (Dagster's config fields must be
named like variables); such parameters keep their project values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import dagster

PARAMS_RESOURCE = "kedro_params"


def _field(value: object) -> dagster.Field:
    import dagster

    if isinstance(value, Mapping):
        fields = {
            str(key): _field(item)
            for key, item in value.items()
            if isinstance(key, str) and key.isidentifier()
        }
        return dagster.Field(dagster.Shape(fields), is_required=False)
    if isinstance(value, bool):
        kind: object = dagster.Bool
    elif isinstance(value, int):
        kind = dagster.Int
    elif isinstance(value, float):
        kind = dagster.Float
    elif isinstance(value, str):
        kind = dagster.String
    else:  # lists, None, dates...: shown as written, not type-checked
        return dagster.Field(dagster.Any, default_value=value, is_required=False)
    return dagster.Field(kind, default_value=value, is_required=False)


def params_resource(parameters: Mapping[str, Any]) -> dagster.ResourceDefinition:
    """The ``kedro_params`` resource of a job: no value, only the typed parameters' schema."""
    import dagster

    return dagster.ResourceDefinition(
        resource_fn=lambda _: None,
        config_schema=_field(dict(parameters)).config_type,
        description="Kedro parameters of this run (defaults: the project's parameters; a "
        "changed value is passed as kedro run --params would).",
    )


def runtime_params(run_config: Mapping[str, Any], parameters: Mapping[str, Any]) -> dict:
    """The values of ``kedro_params`` in a run's config that differ from the project's
    ``parameters``, as a nested mapping of Kedro runtime parameters."""
    resources = run_config.get("resources") or {}
    given = (resources.get(PARAMS_RESOURCE) or {}).get("config") or {}
    return _changed(given, parameters)


def _changed(given: Mapping[str, Any], project: Mapping[str, Any]) -> dict[str, Any]:
    changed: dict[str, Any] = {}
    for key, value in given.items():
        current = project.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            nested = _changed(value, current)
            if nested:
                changed[key] = nested
        elif key not in project or value != current:
            changed[key] = value
    return changed
