"""The executor kinds ``dagster.yml`` can name, one module each, and their registry.

Adding a kind: write ``executors/<kind>.py`` with an :class:`~.base.ExecutorKind` subclass (its
options model, where its nodes run, the instance it needs, its Dagster executor and run config,
its launcher and cleanup; see ``docs/architecture.md`` for a worked example) ending with
``KIND = <Class>()``, then add it to :data:`KINDS` below. Nothing else in the package names a kind.

Importing this package is cheap: kind modules import Dagster and the integration libraries only
when a run needs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from kedro_dagster_runner.executors import (
    celery,
    celery_docker,
    celery_k8s,
    dagster_celery,
    dagster_dask,
    dagster_in_process,
    dagster_multiprocess,
    dask,
    docker,
    in_process,
    k8s,
    launched,
    multiprocess,
)
from kedro_dagster_runner.executors.base import (
    Adopted,
    ExecutorKind,
    ExecutorOptions,
    InstanceNeed,
    NodesRun,
    RunContext,
)

__all__ = [
    "CODE_LOCATION_KIND",
    "DEFAULT_KIND",
    "KEDRO_DAGSTER_NAMES",
    "KINDS",
    "ExecutorKind",
    "ExecutorOptions",
    "InstanceNeed",
    "NodesRun",
    "RunContext",
    "adopt_entry",
    "kind_named",
]

_REGISTRY: dict[str, ExecutorKind[Any]] = {
    kind.name: kind
    for kind in (
        in_process.KIND,
        multiprocess.KIND,
        dagster_in_process.KIND,
        dagster_multiprocess.KIND,
        dask.KIND,
        celery.KIND,
        docker.KIND,
        k8s.KIND,
        dagster_dask.KIND,
        dagster_celery.KIND,
        celery_docker.KIND,
        celery_k8s.KIND,
    )
}
KINDS: Mapping[str, ExecutorKind[Any]] = MappingProxyType(_REGISTRY)
"""Every kind by name, in the order error messages list them (read-only)."""

DEFAULT_KIND = in_process.KIND.name
"""The kind of ``runner.executor`` when dagster.yml names none."""

CODE_LOCATION_KIND = launched.KIND.name
"""The kind of the code location's jobs (launched by Dagster, run in the run worker); not one
dagster.yml can name, so it is not in :data:`KINDS`."""

_INTERNAL: dict[str, ExecutorKind[Any]] = {launched.KIND.name: launched.KIND}


def kind_named(name: str) -> ExecutorKind[Any]:
    """The kind called ``name``, the code location's included (``KeyError`` when none is)."""
    return KINDS[name] if name in KINDS else _INTERNAL[name]


KEDRO_DAGSTER_NAMES: Mapping[str, str] = MappingProxyType(
    {kind.kedro_dagster_name: name for name, kind in _REGISTRY.items() if kind.kedro_dagster_name}
)
"""kedro-dagster's executor keys in ``dagster.yml`` -> the kind that reads them."""


def adopt_entry(key: str, options: Mapping[str, Any]) -> tuple[str, Adopted]:
    """The kind and options of an executor entry under one of kedro-dagster's keys
    (:data:`KEDRO_DAGSTER_NAMES`); an entry the kind cannot run as written comes back with its
    refusal."""
    name = KEDRO_DAGSTER_NAMES[key]
    return name, _REGISTRY[name].adopt_kedro_dagster(options)
