"""Partition definitions and partition mappings as a catalog entry writes them.

The catalog syntax is kedro-dagster's: a ``type`` naming a Dagster class (``dagster.X`` or ``X``)
and that class's keyword arguments. This module checks an entry without importing Dagster (a
plain ``kedro run`` pays nothing for a partitioned dataset) and builds the Dagster objects when a
run or the code location needs them.

Definitions: ``StaticPartitionsDefinition`` (``partition_keys``), ``DailyPartitionsDefinition``,
``HourlyPartitionsDefinition``, ``WeeklyPartitionsDefinition``, ``MonthlyPartitionsDefinition``
(``start_date``, optional ``end_date``, ``timezone``, ``fmt``...),
``TimeWindowPartitionsDefinition`` (``cron_schedule``, ``start``, ``fmt``...) and
``DynamicPartitionsDefinition`` (``name``; the keys are the partitions found under the dataset's
path).

Mappings (from an upstream dataset to a downstream one): ``IdentityPartitionMapping``,
``StaticPartitionMapping`` (``downstream_partition_keys_by_upstream_partition_key``),
``TimeWindowPartitionMapping`` (``start_offset``, ``end_offset``), ``AllPartitionMapping`` and
``LastPartitionMapping``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import dagster

STATIC = "StaticPartitionsDefinition"
DYNAMIC = "DynamicPartitionsDefinition"
TIME_WINDOWS = frozenset(
    {
        "DailyPartitionsDefinition",
        "HourlyPartitionsDefinition",
        "WeeklyPartitionsDefinition",
        "MonthlyPartitionsDefinition",
        "TimeWindowPartitionsDefinition",
    }
)
DEFINITIONS = frozenset({STATIC, DYNAMIC, *TIME_WINDOWS})
MAPPINGS = frozenset(
    {
        "IdentityPartitionMapping",
        "StaticPartitionMapping",
        "TimeWindowPartitionMapping",
        "AllPartitionMapping",
        "LastPartitionMapping",
    }
)

ConfigValue = str | int | float | bool | None | list[object] | dict[str, object]


def _build(kind: str, options: dict[str, object], what: str) -> object:
    """The Dagster object of class ``kind`` made with ``options``.

    Raises:
        ValueError: Dagster refuses the options (the message says which).
    """
    import dagster

    try:
        return getattr(dagster, kind)(**options)
    except Exception as error:
        raise ValueError(f"{what}: {kind}({options}) is not valid: {error}") from error


def _class_name(entry: object, allowed: frozenset[str], what: str) -> tuple[str, dict]:
    """``(class name, keyword arguments)`` of a ``{type: ..., **kwargs}`` entry (or a bare type
    string), the type checked against ``allowed``."""
    if isinstance(entry, str):
        entry = {"type": entry}
    if not isinstance(entry, Mapping) or "type" not in entry:
        raise ValueError(f"{what} must be a mapping with a 'type' key, got {entry!r}.")
    options = dict(entry)
    name = str(options.pop("type"))
    short = name.removeprefix("dagster.")
    if short not in allowed:
        raise ValueError(
            f"{what} type '{name}' is not supported; use one of: "
            + ", ".join(f"dagster.{choice}" for choice in sorted(allowed))
        )
    return short, options


@dataclass(frozen=True)
class PartitionsConfig:
    """A dataset's ``partition:`` entry, checked.

    Attributes:
        kind: The Dagster class name, e.g. ``DailyPartitionsDefinition``.
        options: Its keyword arguments, as written.
    """

    kind: str
    options: dict[str, ConfigValue] = field(default_factory=dict)

    @classmethod
    def parse(cls, entry: object) -> PartitionsConfig:
        """Check a ``partition:`` entry (no Dagster import).

        Raises:
            ValueError: Unknown type, or a static definition without ``partition_keys``.
        """
        kind, options = _class_name(entry, DEFINITIONS, "partition")
        if kind == STATIC:
            keys = options.get("partition_keys")
            if not isinstance(keys, list) or not keys:
                raise ValueError("partition: StaticPartitionsDefinition needs partition_keys.")
            options["partition_keys"] = [str(key) for key in keys]
        return cls(kind, options)

    @property
    def is_dynamic(self) -> bool:
        return self.kind == DYNAMIC

    @property
    def is_time_window(self) -> bool:
        return self.kind in TIME_WINDOWS

    def dagster_definition(self) -> dagster.PartitionsDefinition:
        """The Dagster partitions definition (built once: fan-out plans ask for it per key).

        Raises:
            ValueError: Dagster refuses the options (the message says which).
        """
        return self._definition

    @cached_property
    def _definition(self) -> dagster.PartitionsDefinition:
        options = dict(self.options)
        if self.is_dynamic:
            options.setdefault("name", None)
        return _build(self.kind, options, "partition")

    def same_as(self, other: PartitionsConfig) -> bool:
        """True when both entries define the same partitions."""
        return self.kind == other.kind and self.options == other.options


@dataclass(frozen=True)
class MappingConfig:
    """One entry of a dataset's ``partition_mapping:`` (how a downstream dataset's partition
    reads this dataset's partitions)."""

    kind: str
    options: dict[str, ConfigValue] = field(default_factory=dict)

    @classmethod
    def parse(cls, entry: object, downstream: str) -> MappingConfig:
        """Check one ``partition_mapping`` entry (no Dagster import).

        Raises:
            ValueError: Unknown type; a static mapping without its key map.
        """
        kind, options = _class_name(entry, MAPPINGS, f"partition_mapping.{downstream}")
        if kind == "StaticPartitionMapping":
            keys = options.get("downstream_partition_keys_by_upstream_partition_key")
            if not isinstance(keys, Mapping):
                raise ValueError(
                    f"partition_mapping.{downstream}: StaticPartitionMapping needs "
                    "downstream_partition_keys_by_upstream_partition_key."
                )
            options["downstream_partition_keys_by_upstream_partition_key"] = {
                str(up): [str(v) for v in down] if isinstance(down, list) else str(down)
                for up, down in keys.items()
            }
        return cls(kind, options)

    def dagster_mapping(self) -> dagster.PartitionMapping:
        """The Dagster partition mapping (built once: fan-out plans ask for it per key).

        Raises:
            ValueError: Dagster refuses the options (the message says which).
        """
        return self._mapping

    @cached_property
    def _mapping(self) -> dagster.PartitionMapping:
        options = dict(self.options)
        static = options.get("downstream_partition_keys_by_upstream_partition_key")
        if isinstance(static, dict):  # Dagster wants sets for one-to-many
            options["downstream_partition_keys_by_upstream_partition_key"] = {
                up: set(down) if isinstance(down, list) else down for up, down in static.items()
            }
        return _build(self.kind, options, "partition_mapping")


def default_mapping(upstream: PartitionsConfig, downstream: PartitionsConfig) -> MappingConfig:
    """Dagster's default between two partitioned assets: identity between equal definitions,
    a time-window mapping between time windows, all partitions otherwise."""
    if upstream.same_as(downstream):
        return MappingConfig("IdentityPartitionMapping")
    if upstream.is_time_window and downstream.is_time_window:
        return MappingConfig("TimeWindowPartitionMapping")
    return MappingConfig("AllPartitionMapping")
