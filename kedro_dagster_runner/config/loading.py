"""Reading ``dagster.yml`` through the project's own config loader (env layering, resolvers)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kedro.config import AbstractConfigLoader

CONFIG_SUFFIXES = (".yml", ".yaml", ".json")


def describe_sources(
    conf_source: str | None,
    env: str | None,
    base_env: str | None = None,
    default_run_env: str | None = None,
) -> str:
    """Name the ``dagster*`` files the project's config loader reads, for error messages.

    Args:
        conf_source: The loader's configuration folder (``<project>/conf``).
        env: ``--env``; ``None`` means the loader's default run environment.
        base_env: The loader's base environment.
        default_run_env: The loader's default run environment.

    ``base_env`` and ``default_run_env`` default to the project's ``CONFIG_LOADER_ARGS``, which
    Kedro's session gives the loader (Kedro's own defaults: ``base`` and ``local``).

    Returns:
        The files, base environment first (``conf/base/dagster.yml, conf/local/dagster.yml``),
        or, when there is none, ``no dagster*.yml in conf/base or conf/local``.
    """
    if not conf_source:
        return "dagster.yml"
    base_env, run_env = _environments(env, base_env, default_run_env)
    envs = [base_env] + ([run_env] if run_env and run_env != base_env else [])
    root = Path(conf_source)
    if not root.is_dir():  # a remote or archived conf_source: name the environments
        return f"{conf_source} ({', '.join(f'{e}/dagster*' for e in envs)})"
    found = [str(path) for e in envs for path in _dagster_files(root / e)]
    if found:
        return ", ".join(found)
    return "no dagster*.yml in " + " or ".join(str(root / e) for e in envs)


def _environments(
    env: str | None, base_env: str | None, default_run_env: str | None
) -> tuple[str, str]:
    """The base and run environments a Kedro session's config loader uses."""
    if base_env is None or default_run_env is None:
        from kedro.framework.project import settings

        loader_args = getattr(settings, "CONFIG_LOADER_ARGS", None) or {}
        base_env = base_env or loader_args.get("base_env") or "base"
        default_run_env = default_run_env or loader_args.get("default_run_env") or "local"
    return base_env, env or default_run_env


def _dagster_files(folder: Path) -> list[Path]:
    """What the ``dagster*`` and ``dagster*/**`` patterns match in ``folder``: YAML and JSON
    files, hidden ones excepted, as Kedro's ``OmegaConfigLoader`` reads them."""
    candidates = [*folder.glob("dagster*"), *folder.glob("dagster*/**/*")]
    return sorted(
        (
            path
            for path in candidates
            if path.is_file()
            and path.suffix in CONFIG_SUFFIXES
            and not any(part.startswith(".") for part in path.relative_to(folder).parts)
        ),
        key=str,
    )


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
