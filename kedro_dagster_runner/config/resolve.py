"""From ``dagster.yml`` content and ``--runner-params`` to a :class:`ResolvedConfig`.

The file keeps the seed format of named executors, so a kedro-dagster project's file is understood::

    executors:                  # name -> {kind: options}
      local_pool:
        multiprocess: {max_concurrent: 4}
    runner:                     # what DagsterRunner does with them
      executor: local_pool      # a name above, or a bare kind
      instance: ephemeral       # ephemeral | dagster_home | {postgres: {...}}
      handoff: /mnt/shared/kdr  # where non-persisted data crosses processes (fsspec URI)
      submit: attached          # attached | detached (the instance's run launcher starts it)

Sections kedro-dagster uses for its own code location (``jobs``, ``schedules``, ``sensors``,
``loggers``, ``definitions``, ``dev``) are accepted and ignored. Any problem raises
:class:`ConfigError` naming the file, the key path and the allowed values, before anything runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from kedro_dagster_runner.config.models import (
    RUNNER_KEYS,
    DagsterFileModel,
    ExecutorChoice,
    ResolvedConfig,
    RunnerSettings,
)
from kedro_dagster_runner.errors import ConfigError
from kedro_dagster_runner.executors import KINDS, kind_named

IGNORED_SECTIONS = ("jobs", "schedules", "sensors", "loggers", "definitions", "dev")


def _format_validation_error(error: ValidationError, prefix: str) -> str:
    lines = []
    for item in error.errors():
        path = ".".join(str(part) for part in (prefix, *item["loc"]) if part != "")
        lines.append(f"  {path}: {item['msg']} (got {item.get('input')!r})")
    return "\n".join(lines)


def _fail(source: str, problem: str) -> ConfigError:
    return ConfigError(f"Invalid DagsterRunner configuration in {source}:\n{problem}")


def _validate_options(kind: str, options: object, key_path: str, source: str) -> dict[str, Any]:
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        raise _fail(source, f"  {key_path}: expected a mapping of options, got {options!r}")
    model = kind_named(kind).options_model
    try:
        return model.model_validate(dict(options)).model_dump(exclude_none=True)
    except ValidationError as exc:
        allowed = ", ".join(model.model_fields)
        raise _fail(
            source, f"{_format_validation_error(exc, key_path)}\n  allowed keys: {allowed}"
        ) from None


def _parse_executor_entry(name: str, entry: object, source: str) -> tuple[str, object]:
    if not isinstance(entry, Mapping) or len(entry) != 1:
        raise _fail(
            source,
            f"  executors.{name}: expected exactly one executor kind as key "
            f"(one of {', '.join(KINDS)}), got {entry!r}",
        )
    kind, options = next(iter(entry.items()))
    if kind not in KINDS:
        raise _fail(
            source,
            f"  executors.{name}: unknown executor kind '{kind}'; allowed: {', '.join(KINDS)}",
        )
    return kind, options


def resolve_config(
    raw: Mapping[str, Any] | None,
    overrides: Mapping[str, Any] | None = None,
    source: str = "dagster.yml",
) -> ResolvedConfig:
    """Validate ``dagster.yml`` content, apply ``--runner-params`` and pick the executor.

    Args:
        raw: The merged content of ``dagster.yml`` (``None`` or empty when there is no file).
        overrides: ``--runner-params``; keys of ``runner:`` replace the file's, any other key is
            an option of the chosen executor (e.g. ``max_concurrent=2``).
        source: The file(s) the content came from, used in error messages.

    Raises:
        ConfigError: The file or an override is invalid, names an unknown executor, or asks for
            an executor whose package is not installed (:class:`MissingExtraError`).
    """
    parsed = _parse_file(raw, source)
    overrides = dict(overrides or {})
    runner_overrides = {k: v for k, v in overrides.items() if k in RUNNER_KEYS}
    option_overrides = {k: v for k, v in overrides.items() if k not in RUNNER_KEYS}
    try:
        runner = RunnerSettings.model_validate({**parsed.runner.model_dump(), **runner_overrides})
    except ValidationError as exc:
        raise _fail(
            f"{source} (runner section) or --runner-params", _format_validation_error(exc, "runner")
        ) from None
    declared = {
        name: _parse_executor_entry(name, entry, source) for name, entry in parsed.executors.items()
    }
    executor = _choose_executor(runner.executor, declared, option_overrides, source)
    return ResolvedConfig(
        runner=runner,
        executor=executor,
        launcher=_resolve_launcher(runner, executor, declared, source),
    )


def _parse_file(raw: Mapping[str, Any] | None, source: str) -> DagsterFileModel:
    """The sections DagsterRunner reads, validated (kedro-dagster's own sections dropped)."""
    raw = {key: value for key, value in (raw or {}).items() if key not in IGNORED_SECTIONS}
    try:
        return DagsterFileModel.model_validate(raw)
    except ValidationError as exc:
        allowed = "executors, runner (ignored: " + ", ".join(IGNORED_SECTIONS) + ")"
        raise _fail(
            source,
            f"{_format_validation_error(exc, '')}\n  allowed top-level keys: {allowed}; "
            f"allowed runner keys: {', '.join(sorted(RUNNER_KEYS))}",
        ) from None


def _choose_executor(
    name: str,
    declared: Mapping[str, tuple[str, object]],
    option_overrides: Mapping[str, Any],
    source: str,
) -> ExecutorChoice:
    """``runner.executor`` (a declared name or a bare kind) with its options validated."""
    if name in declared:
        kind, options = declared[name]
        key_path = f"executors.{name}.{kind}"
    elif name in KINDS:
        kind, options, key_path = name, {}, f"runner.executor ({name})"
    else:
        names = ", ".join([*declared, *KINDS])
        raise _fail(
            source,
            f"  runner.executor: '{name}' is neither an executor defined under "
            f"'executors' nor a known kind; allowed: {names}",
        )
    if options is not None and not isinstance(options, Mapping):
        raise _fail(source, f"  {key_path}: expected a mapping of options, got {options!r}")
    merged_options = {**dict(options or {}), **option_overrides}
    where = f"{source} + --runner-params" if option_overrides else source
    validated = _validate_options(kind, merged_options, key_path, where)
    kind_named(kind).ensure_installed()
    return ExecutorChoice(name=name, kind=kind, options=validated)


def _resolve_launcher(
    runner: RunnerSettings,
    executor: ExecutorChoice,
    declared: Mapping[str, tuple[str, object]],
    source: str,
) -> ExecutorChoice | None:
    """The executor entry that configures the run launcher of a detached run.

    Detached runs are recorded in a shared instance and started by its run launcher: the one of
    the ``dagster_home`` instance, or one built from an entry of a kind that launches runs, for a
    Postgres instance (``runner.launcher``, or the run's own executor when it is such a kind).
    """
    if not runner.detached:
        return None
    if runner.instance == "ephemeral":
        raise _fail(
            source,
            "  runner.submit: detached runs are recorded in and launched by a shared Dagster "
            "instance; set runner.instance to {postgres: {...}} (or dagster_home with a run "
            "launcher in $DAGSTER_HOME/dagster.yaml).",
        )
    if runner.instance == "dagster_home":
        if runner.launcher is not None:
            raise _fail(
                source,
                "  runner.launcher: with runner.instance: dagster_home the run launcher is the "
                "one in $DAGSTER_HOME/dagster.yaml; remove runner.launcher or use a postgres "
                "instance.",
            )
        return None
    launching_kinds = [name for name, kind in KINDS.items() if kind.launches_runs]
    described = " or ".join(launching_kinds)
    if runner.launcher is None:
        if kind_named(executor.kind).launches_runs:
            return executor
        raise _fail(
            source,
            f"  runner.launcher: a detached run on the '{executor.kind}' executor needs a run "
            f"launcher: name a {described} executor under 'executors' whose image runs the run "
            f"(declared: {', '.join(declared) or 'none'}).",
        )
    entry = declared.get(runner.launcher)
    if entry is None or not kind_named(entry[0]).launches_runs:
        launchers = [name for name, (kind, _) in declared.items() if kind in launching_kinds]
        raise _fail(
            source,
            f"  runner.launcher: '{runner.launcher}' is not a {described} executor under "
            f"'executors'; allowed: {', '.join(launchers) or 'none declared'}",
        )
    kind, options = entry
    key_path = f"executors.{runner.launcher}.{kind}"
    validated = _validate_options(kind, options, key_path, source)
    kind_named(kind).ensure_installed()
    return ExecutorChoice(name=runner.launcher, kind=kind, options=validated)
