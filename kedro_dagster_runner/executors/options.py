"""Building blocks of the executor option models (each kind's model lives in its own module).

Models are strict (unknown keys are errors naming the key) and frozen. Numbers refuse booleans:
YAML's ``true`` is not a count of 1 (:data:`PositiveCount`, :data:`PositiveNumber`); a number
written as a string is taken, since OmegaConf's ``${oc.env:...}`` resolves to strings. They accept
the shapes
Dagster's own executor configs use where a kedro-dagster ``dagster.yml`` may have them:
``retries: {enabled: {}}`` and ``start_method: {forkserver: {preload_modules: [...]}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError


def _refuse_booleans(kind: str) -> BeforeValidator:
    def check(value: object) -> object:
        if isinstance(value, bool):  # pydantic's lax mode reads True as 1
            raise PydanticCustomError(f"{kind}_type", f"Input should be a valid {kind}")
        return value

    return BeforeValidator(check)


PositiveCount = Annotated[int, _refuse_booleans("integer"), Field(gt=0)]
"""A positive integer (``4`` or ``"4"``); ``true`` and ``2.5`` are refused."""

PositiveNumber = Annotated[float, _refuse_booleans("number"), Field(gt=0)]
"""A positive number (``2``, ``0.5`` or ``"0.5"``); ``true`` is refused."""


class StrictModel(BaseModel):
    """A frozen model that refuses unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def option_names(cls) -> list[str]:
        """Every key the model takes: its field names and their aliases (``max_workers``)."""
        names: list[str] = []
        for name, field in cls.model_fields.items():
            names.append(name)
            alias = field.validation_alias
            if isinstance(alias, AliasChoices):
                names.extend(str(choice) for choice in alias.choices if choice != name)
            elif isinstance(alias, str) and alias != name:
                names.append(alias)
        return names


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
    limit: PositiveCount


class CommonOptions(StrictModel):
    """Options every kind takes: retries of steps that ask for them."""

    retries: bool = Field(default=False, description="Let Dagster retry steps that ask for it.")

    @field_validator("retries", mode="before")
    @classmethod
    def _retries_selector(cls, value: object) -> bool:
        return normalise_retries(value)


def max_concurrent_field(description: str) -> PositiveCount | None:
    """``max_concurrent``, also accepted under Kedro's name for it, ``max_workers``."""
    return Field(
        default=None,
        validation_alias=AliasChoices("max_concurrent", "max_workers"),
        description=f"{description} (Kedro's name for it, max_workers, works too).",
    )


class ConcurrentOptions(CommonOptions):
    """Options of kinds that run several nodes at once."""

    max_concurrent: PositiveCount | None = max_concurrent_field(
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
