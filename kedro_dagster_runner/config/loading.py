"""Reading ``dagster.yml`` through the project's own config loader (env layering, resolvers)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kedro.config import AbstractConfigLoader


def describe_sources(conf_source: str | None, env: str | None, base_env: str = "base") -> str:
    """Name the dagster.yml files a config loader would read, for error messages."""
    if not conf_source:
        return "dagster.yml"
    root = Path(conf_source)
    envs: Iterable[str] = [base_env] + ([env] if env and env != base_env else [])
    found = [str(p) for e in envs for p in sorted((root / e).glob("dagster*.y*ml"))]
    return ", ".join(found) if found else f"{root}/<env>/dagster.yml"


def load_project_config(config_loader: AbstractConfigLoader) -> Mapping[str, Any] | None:
    """Read ``dagster*`` files through the project's own config loader.

    ``conf/<env>/dagster.yml`` refines ``conf/base/dagster.yml`` key by key (soft merge) instead
    of replacing it. Returns ``None`` when the project has no such file.
    """
    from kedro.config import MissingConfigException

    patterns = getattr(config_loader, "config_patterns", None)
    if patterns is not None and "dagster" not in patterns:
        patterns["dagster"] = ["dagster*", "dagster*/**"]
    strategies = getattr(config_loader, "merge_strategy", None)
    if isinstance(strategies, dict):
        strategies.setdefault("dagster", "soft")
    try:
        return config_loader["dagster"]
    except (MissingConfigException, KeyError):
        return None
