"""Building blocks of the executor option models (each kind's model lives in its own module).

Models are strict (unknown keys are errors naming the key) and frozen. They accept the shapes
Dagster's own executor configs use where a kedro-dagster ``dagster.yml`` may have them:
``retries: {enabled: {}}`` and ``start_method: {forkserver: {preload_modules: [...]}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, PositiveInt, field_validator


class StrictModel(BaseModel):
    """A frozen model that refuses unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def normalise_retries(value: object) -> bool:
    """Accept Dagster's selector form (``{enabled: {}}`` / ``{disabled: {}}``) or a boolean."""
    if isinstance(value, bool):
        return value
    if (
        isinstance(value, Mapping)
        and len(value) == 1
        and next(iter(value)) in {"enabled", "disabled"}
    ):
        return next(iter(value)) == "enabled"
    raise ValueError("expected true/false or {enabled: {}} / {disabled: {}}")


def dagster_retries(enabled: bool) -> dict[str, dict[str, Any]]:
    """Dagster's ``retries`` selector for a boolean."""
    return {"enabled": {}} if enabled else {"disabled": {}}


class TagConcurrencyLimit(StrictModel):
    """At most ``limit`` steps whose Dagster tag ``key`` (=``value``) run at once."""

    key: str
    value: str | None = None
    limit: PositiveInt


class CommonOptions(StrictModel):
    """Options every kind takes: retries of steps that ask for them."""

    retries: bool = Field(default=False, description="Let Dagster retry steps that ask for it.")

    @field_validator("retries", mode="before")
    @classmethod
    def _retries_selector(cls, value: object) -> bool:
        return normalise_retries(value)


def max_concurrent_field(description: str) -> PositiveInt | None:
    """``max_concurrent``, also accepted under Kedro's name for it, ``max_workers``."""
    return Field(
        default=None,
        validation_alias=AliasChoices("max_concurrent", "max_workers"),
        description=f"{description} (Kedro's name for it, max_workers, works too).",
    )


class ConcurrentOptions(CommonOptions):
    """Options of kinds that run several nodes at once."""

    max_concurrent: PositiveInt | None = max_concurrent_field(
        "Nodes running at once (default: the kind's own)"
    )
    tag_concurrency_limits: list[TagConcurrencyLimit] | None = None

    def concurrency_config(self) -> dict[str, Any]:
        """``max_concurrent`` / ``tag_concurrency_limits`` as Dagster executor config, if set."""
        config: dict[str, Any] = {}
        if self.max_concurrent:
            config["max_concurrent"] = self.max_concurrent
        if self.tag_concurrency_limits:
            config["tag_concurrency_limits"] = [
                limit.model_dump(exclude_none=True) for limit in self.tag_concurrency_limits
            ]
        return config


def unpack_start_method(data: object) -> object:
    """Accept Dagster's selector ``start_method: {forkserver: {preload_modules: [...]}}``."""
    if isinstance(data, Mapping) and isinstance(data.get("start_method"), Mapping):
        selector = data["start_method"]
        if len(selector) == 1:
            method, inner = next(iter(selector.items()))
            data = {**data, "start_method": method}
            if isinstance(inner, Mapping) and "preload_modules" in inner:
                data.setdefault("preload_modules", inner["preload_modules"])
    return data


def names_only(names: list[str]) -> list[str]:
    """Values come from the environment, never from the config (which may be committed)."""
    bad = [name for name in names if "=" in name or not name]
    if bad:
        raise ValueError(f"give variable names only (values come from the environment): {bad}")
    return names
