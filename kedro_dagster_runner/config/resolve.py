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

kedro-dagster's executor keys and option shapes are read as the package's kinds, and its
``jobs``, ``schedules`` and ``loggers`` sections (plus ``sensors``) are read; ``definitions`` and
``dev`` are accepted and not used. What a run reads but does not act on is listed in
:attr:`ResolvedConfig.notices`. Any problem raises
:class:`ConfigError` before anything runs, naming where the bad value came from (the file(s), or
``--runner-params``), the key path and the allowed values; an unknown key close to a known one
gets a "did you mean" suggestion.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, Tag, ValidationError

from kedro_dagster_runner.config.handoff import handoff_problem
from kedro_dagster_runner.config.models import (
    RUNNER_KEYS,
    DagsterFileModel,
    ExecutorChoice,
    ResolvedConfig,
    RunnerSettings,
)
from kedro_dagster_runner.errors import ConfigError
from kedro_dagster_runner.executors import (
    KEDRO_DAGSTER_NAMES,
    KINDS,
    Adopted,
    adopt_entry,
    kind_named,
)
from kedro_dagster_runner.executors.options import StrictModel

IGNORED_SECTIONS = ("definitions", "dev")
"""kedro-dagster's sections that nothing in the package acts on (a notice says so)."""
PARAMS = "--runner-params"


@dataclass(frozen=True)
class _Sources:
    """Where values come from, to name it in errors: ``files`` describes the dagster.yml files
    (:func:`~kedro_dagster_runner.config.loading.describe_sources`), ``file_content`` says
    whether they held anything."""

    files: str
    file_content: bool

    def of(self, from_file: bool, from_params: bool) -> str:
        """The origin of a bad value read from the file(s), ``--runner-params`` or both."""
        if not from_params:
            return self.files
        if not from_file:
            return PARAMS
        if self.file_content:
            return f"{self.files} + {PARAMS}"
        # No file held anything: say where none was found (describe_sources says "no ...").
        return f"{PARAMS} ({self.files})" if self.files.startswith("no ") else PARAMS


def _fail(where: str, problem: str) -> ConfigError:
    return ConfigError(f"Invalid DagsterRunner configuration in {where}:\n{problem}")


def _close_match(key: str, candidates: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(key, list(dict.fromkeys(candidates)), n=1)
    return matches[0] if matches else None


def _hint(key: str, candidates: Iterable[str]) -> str:
    """`` (did you mean X?)`` when a candidate is close to ``key``, else nothing."""
    close = _close_match(key, candidates)
    return f" (did you mean {close}?)" if close else ""


def _unknown_key(key: str, allowed: list[str], ignored: Iterable[str] = ()) -> str:
    """``unknown key (did you mean X?)``, or the allowed keys when none is close."""
    close = _close_match(key, [*allowed, *ignored])
    if close is not None:
        return f"unknown key (did you mean {close}?)"
    listed = ", ".join(allowed)
    ignored = list(ignored)
    if ignored:
        listed += f" (ignored: {', '.join(ignored)})"
    return f"unknown key; allowed: {listed}"


# Key paths of pydantic errors ----------------------------------------------------------------


def _split_annotated(annotation: Any) -> tuple[Any, tuple[Any, ...]]:
    if get_origin(annotation) is Annotated:
        inner, *metadata = get_args(annotation)
        return inner, tuple(metadata)
    return annotation, ()


def _step(annotation: Any, part: int | str) -> tuple[Any, bool]:
    """The type found at ``part`` of a value of type ``annotation``, and whether ``part`` is a
    tag pydantic puts in error locations to say which member of a union failed (``None`` when
    the type cannot be followed)."""
    annotation, _ = _split_annotated(annotation)
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return _step_into_union(get_args(annotation), part)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = _field(annotation, part)
        return (field.annotation if field is not None else None), False
    if origin in (list, tuple, set, frozenset) and isinstance(part, int):
        return get_args(annotation)[0], False
    if origin in (dict, Mapping) and isinstance(part, str):
        return get_args(annotation)[1], False
    return None, False


def _step_into_union(members: tuple[Any, ...], part: int | str) -> tuple[Any, bool]:
    members = tuple(m for m in members if m is not type(None))
    for member in members:
        inner, metadata = _split_annotated(member)
        if any(isinstance(item, Tag) and item.tag == part for item in metadata):
            return inner, True
    for member in members:
        found, is_tag = _step(member, part)
        if found is not None:
            return found, is_tag
    return None, False


def _field(model: type[BaseModel], key: int | str) -> Any:
    for name, field in model.model_fields.items():
        if key == name or key in _aliases(field):
            return field
    return None


def _aliases(field: Any) -> list[str]:
    alias = field.validation_alias
    return [str(choice) for choice in getattr(alias, "choices", [alias] if alias else [])]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model a value of type ``annotation`` is validated by, if it is one (or optional)."""
    annotation, _ = _split_annotated(annotation)
    if get_origin(annotation) in (Union, types.UnionType):
        models = [m for m in map(_model_in, get_args(annotation)) if m is not None]
        return models[0] if len(models) == 1 else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _locate(model: type[BaseModel], loc: tuple[int | str, ...]) -> tuple[list[str], list[str]]:
    """The key path of an error location without union tags, and the keys allowed where its
    last key is (empty when that is not a model)."""
    path: list[str] = []
    annotation: Any = model
    allowed: list[str] = []
    for index, part in enumerate(loc):
        if annotation is None:
            path.extend(str(rest) for rest in loc[index:])
            return path, []
        container = _model_in(annotation)
        annotation, is_tag = _step(annotation, part)
        if is_tag:
            continue
        path.append(str(part))
        allowed = _option_names(container) if container is not None else []
    return path, allowed


def _option_names(model: type[BaseModel]) -> list[str]:
    if issubclass(model, StrictModel):
        return model.option_names()
    return list(model.model_fields)


def _format_validation_error(
    error: ValidationError, prefix: str, model: type[BaseModel], ignored: Iterable[str] = ()
) -> str:
    """One line per problem: ``<key path>: <what is wrong> (got <value>)``."""
    lines = []
    for item in error.errors():
        parts, allowed = _locate(model, item["loc"])
        path = ".".join(part for part in (prefix, *parts) if part != "")
        if item["type"] == "extra_forbidden":
            top_level = len(parts) == 1 and not prefix
            key = parts[-1] if parts else ""
            lines.append(f"  {path}: {_unknown_key(key, allowed, ignored if top_level else ())}")
            continue
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"  {path}: {message} (got {item.get('input')!r})")
    return "\n".join(lines)


# Resolution ----------------------------------------------------------------------------------


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
        ConfigError: The file or an override is invalid, names an unknown key, executor or
            option, sets a ``runner.handoff`` the run's store cannot be created under, or asks
            for an executor whose package is not installed (:class:`MissingExtraError`).
    """
    sources = _Sources(source, bool(raw))
    parsed = _parse_file(raw, sources)
    overrides = dict(overrides or {})
    runner_overrides = {k: v for k, v in overrides.items() if k in RUNNER_KEYS}
    option_overrides = {k: v for k, v in overrides.items() if k not in RUNNER_KEYS}
    try:
        runner = RunnerSettings.model_validate({**parsed.runner.model_dump(), **runner_overrides})
    except ValidationError as exc:  # the file's runner: section is valid on its own
        raise _fail(PARAMS, _format_validation_error(exc, "runner", RunnerSettings)) from None
    declared = {
        name: _parse_executor_entry(name, entry, sources)
        for name, entry in parsed.executors.items()
    }
    factories = sorted(name for name in parsed.jobs if "{" in name)
    parsed = parsed.model_copy(
        update={"jobs": {k: v for k, v in parsed.jobs.items() if k not in factories}}
    )
    _check_job_references(parsed, declared, sources)
    _check_logger_references(runner, parsed, sources, "loggers" in runner_overrides)
    chosen = _chosen_executor(runner, parsed, runner_overrides, sources)
    executor = _choose_executor(
        chosen, declared, option_overrides, sources, "executor" in runner_overrides
    )
    launcher_origin = sources.of(True, bool(runner_overrides))
    launcher = _resolve_launcher(runner, executor, declared, launcher_origin)
    try:
        resolved = ResolvedConfig(
            runner=runner,
            executor=executor,
            launcher=launcher,
            jobs=parsed.jobs,
            schedules=parsed.schedules,
            loggers=parsed.loggers,
            sensors=parsed.sensors,
            retry_policies=parsed.retry_policies,
            pools=parsed.pools,
            notices=_notices(raw, declared, chosen) + _factory_notices(factories),
        )
    except ConfigError as exc:  # a check across sections
        raise _fail(sources.of(True, bool(overrides)), f"  {exc}") from None
    if resolved.uses_handoff and runner.handoff:
        problem = handoff_problem(runner.handoff)
        if problem is not None:
            where = PARAMS if "handoff" in runner_overrides else sources.files
            raise _fail(where, f"  runner.handoff: {problem}")
    return resolved


def _parse_file(raw: Mapping[str, Any] | None, sources: _Sources) -> DagsterFileModel:
    """The sections DagsterRunner reads, validated (kedro-dagster's own sections dropped)."""
    raw = {key: value for key, value in (raw or {}).items() if key not in IGNORED_SECTIONS}
    try:
        return DagsterFileModel.model_validate(raw)
    except ValidationError as exc:
        problems = _format_validation_error(exc, "", DagsterFileModel, IGNORED_SECTIONS)
        raise _fail(sources.files, problems) from None


@dataclass(frozen=True)
class _Entry:
    """An ``executors`` entry: the kind that runs it, its options, the key it was written under
    (a kind, or one of kedro-dagster's keys) and, for kedro-dagster's, how it was adopted."""

    kind: str
    options: object
    key: str
    adopted: Adopted | None = None

    def key_path(self, name: str) -> str:
        return f"executors.{name}.{self.key}"

    def refuse_if_unrunnable(self, name: str, where: str) -> None:
        """Raise when the entry, written in kedro-dagster's shape, cannot run as written."""
        if self.adopted is not None and self.adopted.refusal is not None:
            raise _fail(where, f"  {self.key_path(name)}: {self.adopted.refusal}")

    def notice(self, name: str) -> str | None:
        """One line naming what the entry sets that its kind does not act on."""
        if self.adopted is None or not self.adopted.ignored:
            return None
        ignored = "; ".join(f"{key} ({why})" for key, why in self.adopted.ignored.items())
        return f"{self.key_path(name)}: not acted on by the {self.kind} executor: {ignored}"


def _parse_executor_entry(name: str, entry: object, sources: _Sources) -> _Entry:
    allowed = f"one of {', '.join(KINDS)}, or kedro-dagster's {', '.join(KEDRO_DAGSTER_NAMES)}"
    if not isinstance(entry, Mapping) or len(entry) != 1:
        merged = (
            " (entries of the same name in the dagster.yml of several environments are merged: "
            "give this one another name)"
            if isinstance(entry, Mapping) and len(entry) > 1
            else ""
        )
        raise _fail(
            sources.files,
            f"  executors.{name}: expected exactly one executor kind as key ({allowed}), "
            f"got {entry!r}{merged}",
        )
    key, options = next(iter(entry.items()))
    if key in KINDS:
        return _Entry(key, options, key)
    if key in KEDRO_DAGSTER_NAMES:
        if options is not None and not isinstance(options, Mapping):
            raise _fail(
                sources.files,
                f"  executors.{name}.{key}: expected a mapping of options, got {options!r}",
            )
        kind, adopted = adopt_entry(key, options or {})
        return _Entry(kind, adopted.options, key, adopted)
    hint = _hint(str(key), [*KINDS, *KEDRO_DAGSTER_NAMES])
    raise _fail(
        sources.files,
        f"  executors.{name}: unknown executor kind '{key}'{hint}; allowed: {allowed}",
    )


def _check_job_references(
    parsed: DagsterFileModel, declared: Mapping[str, _Entry], sources: _Sources
) -> None:
    """Every job's executor and schedule must name an entry of the file (or a bare kind)."""
    for name, job in parsed.jobs.items():
        if job.executor is not None and job.executor not in declared and job.executor not in KINDS:
            allowed = [*declared, *KINDS]
            hint = _hint(job.executor, allowed)
            raise _fail(
                sources.files,
                f"  jobs.{name}.executor: '{job.executor}' is neither an executor under "
                f"'executors' nor a known kind{hint}; allowed: {', '.join(allowed)}",
            )
        if isinstance(job.schedule, str) and job.schedule not in parsed.schedules:
            hint = _hint(job.schedule, parsed.schedules)
            raise _fail(
                sources.files,
                f"  jobs.{name}.schedule: no schedule '{job.schedule}' under 'schedules'{hint}; "
                f"defined: {', '.join(parsed.schedules) or 'none'}",
            )


def _check_logger_references(
    runner: RunnerSettings, parsed: DagsterFileModel, sources: _Sources, from_params: bool
) -> None:
    """``runner.loggers`` and every job's named loggers must be under ``loggers``."""
    named = [("runner.loggers", name) for name in runner.loggers or []]
    named += [
        (f"jobs.{job}.loggers", entry)
        for job, settings in parsed.jobs.items()
        for entry in settings.loggers or []
        if isinstance(entry, str)
    ]
    for key, name in named:
        if name not in parsed.loggers:
            hint = _hint(name, parsed.loggers)
            raise _fail(
                sources.of(True, from_params) if key == "runner.loggers" else sources.files,
                f"  {key}: no logger '{name}' under 'loggers'{hint}; "
                f"defined: {', '.join(parsed.loggers) or 'none'}",
            )


def _chosen_executor(
    runner: RunnerSettings,
    parsed: DagsterFileModel,
    runner_overrides: Mapping[str, Any],
    sources: _Sources,
) -> str:
    """The executor the run uses: ``--runner-params executor=``, else the job's (when
    ``runner.job`` names one that has one), else ``runner.executor``."""
    if runner.job is not None and runner.job not in parsed.jobs:
        hint = _hint(runner.job, parsed.jobs)
        raise _fail(
            sources.of(True, "job" in runner_overrides),
            f"  runner.job: no job '{runner.job}' under 'jobs'{hint}; "
            f"defined: {', '.join(parsed.jobs) or 'none'}",
        )
    job = parsed.jobs.get(runner.job) if runner.job else None
    if "executor" in runner_overrides or job is None or job.executor is None:
        return runner.executor
    return job.executor


def _factory_notices(factories: list[str]) -> list[str]:
    """kedro-dagster's job factories (a ``{placeholder}`` in the job's name, one job per
    namespace) are read but not acted on."""
    if not factories:
        return []
    return [
        f"jobs: {', '.join(factories)} not used: kedro-dagster's job factories ({{placeholder}} "
        "in the name) are not supported; write one job per namespace (node_namespace)"
    ]


def _notices(
    raw: Mapping[str, Any] | None, declared: Mapping[str, _Entry], chosen: str
) -> list[str]:
    """One line per thing dagster.yml sets that this run does not act on: kedro-dagster's
    sections the package does not use, options of the chosen entry its kind ignores, and
    entries written for executors the package does not have."""
    lines = []
    unused = [section for section in IGNORED_SECTIONS if (raw or {}).get(section)]
    if unused:
        lines.append(f"dagster.yml: {', '.join(unused)} not used by kedro-dagster-runner")
    chosen_entry = declared.get(chosen)
    if chosen_entry is not None and (line := chosen_entry.notice(chosen)):
        lines.append(line)
    for name, entry in declared.items():
        if name != chosen and entry.adopted is not None and entry.adopted.refusal:
            lines.append(f"{entry.key_path(name)} cannot be selected: {entry.adopted.refusal}")
    return lines


def _validate_options(
    kind: str, options: Mapping[str, Any], key_path: str, where: Callable[[set[object]], str]
) -> dict[str, Any]:
    """The options of ``kind``, validated by its model; ``where(keys)`` names the origin of the
    options under ``keys`` (``--runner-params`` or the file)."""
    model = kind_named(kind).options_model
    try:
        return model.model_validate(dict(options)).model_dump(exclude_none=True)
    except ValidationError as exc:
        keys = {item["loc"][0] if item["loc"] else None for item in exc.errors()}
        raise _fail(where(keys), _format_validation_error(exc, key_path, model)) from None


def _check_override_keys(overrides: Mapping[str, Any], name: str, kind: str) -> None:
    """Every ``--runner-params`` key that is not a runner key must be an option of ``kind``."""
    own = kind_named(kind).options_model.option_names()
    for key in overrides:
        if key in own:
            continue
        chosen = f"the {kind} executor" + (f" ('{name}')" if name != kind else "")
        close = _close_match(key, [*sorted(RUNNER_KEYS), *own])
        if close in RUNNER_KEYS:
            problem = f"unknown runner key '{key}' (did you mean {close}?)"
        elif close is not None:
            problem = f"unknown option '{key}' of {chosen} (did you mean {close}?)"
        else:
            problem = _foreign_option(key, chosen, own)
        raise _fail(PARAMS, f"  {problem}")


def _foreign_option(key: str, chosen: str, own: list[str]) -> str:
    """An override that is neither a runner key nor an option of the chosen kind, nor close
    to one: an option of other kinds, close to one, or nothing known."""
    owners = [k.name for k in KINDS.values() if key in k.options_model.option_names()]
    listing = (
        f"runner keys: {', '.join(sorted(RUNNER_KEYS))}; options of {chosen}: {', '.join(own)}"
    )
    if owners:
        return (
            f"'{key}' is an option of the {' and '.join(owners)} executor, not of {chosen} "
            f"that runner.executor selects; {listing}"
        )
    for other in KINDS.values():
        close = _close_match(key, other.options_model.option_names())
        if close is not None:
            return (
                f"unknown key '{key}' (did you mean {close}, an option of the {other.name} "
                f"executor?); {listing}"
            )
    return f"unknown key '{key}': neither a runner key nor an executor option; {listing}"


def _choose_executor(
    name: str,
    declared: Mapping[str, _Entry],
    option_overrides: Mapping[str, Any],
    sources: _Sources,
    name_from_params: bool,
) -> ExecutorChoice:
    """``runner.executor`` (a declared name or a bare kind) with its options validated."""
    if name in declared:
        entry = declared[name]
        entry.refuse_if_unrunnable(name, sources.of(True, name_from_params))
        kind, options, key_path = entry.kind, entry.options, entry.key_path(name)
    elif name in KINDS:
        kind, options, key_path = name, {}, f"runner.executor ({name})"
    else:
        names = [*declared, *KINDS]
        hint = _hint(name, names)
        raise _fail(
            sources.of(True, name_from_params),
            f"  runner.executor: '{name}' is neither an executor defined under "
            f"'executors' nor a known kind{hint}; allowed: {', '.join(names)}",
        )
    if options is not None and not isinstance(options, Mapping):
        raise _fail(sources.files, f"  {key_path}: expected a mapping of options, got {options!r}")
    _check_override_keys(option_overrides, name, kind)
    merged_options = {**dict(options or {}), **option_overrides}

    def where(keys: set[object]) -> str:
        from_params = bool(keys & set(option_overrides))
        return sources.of(bool(keys - set(option_overrides)) or not from_params, from_params)

    validated = _validate_options(kind, merged_options, key_path, where)
    kind_named(kind).ensure_installed()
    return ExecutorChoice(name=name, kind=kind, options=validated)


def _resolve_launcher(
    runner: RunnerSettings,
    executor: ExecutorChoice,
    declared: Mapping[str, _Entry],
    source: str,
) -> ExecutorChoice | None:
    """The executor entry that configures the run launcher of a detached run.

    Detached runs are recorded in a shared instance and started by its run launcher: the one of
    the ``dagster_home`` instance, or one built from an entry of a kind that launches runs, for a
    Postgres instance (``runner.launcher``, or the run's own executor when it is such a kind).
    """
    if not runner.detached:
        return None
    if not kind_named(executor.kind).runs_detached:
        raise _fail(
            source,
            f"  runner.submit: the '{executor.kind}' executor of '{executor.name}' runs only "
            "attached (kedro run executes the run); remove submit: detached, or detach runs of "
            "the docker or k8s executor.",
        )
    if runner.instance in ("ephemeral", "project"):
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
    if entry is None or not kind_named(entry.kind).launches_runs:
        launchers = [name for name, e in declared.items() if e.kind in launching_kinds]
        raise _fail(
            source,
            f"  runner.launcher: '{runner.launcher}' is not a {described} executor under "
            f"'executors'; allowed: {', '.join(launchers) or 'none declared'}",
        )
    entry.refuse_if_unrunnable(runner.launcher, source)
    kind, options, key_path = entry.kind, entry.options, entry.key_path(runner.launcher)
    if options is not None and not isinstance(options, Mapping):
        raise _fail(source, f"  {key_path}: expected a mapping of options, got {options!r}")
    validated = _validate_options(kind, options or {}, key_path, lambda keys: source)
    kind_named(kind).ensure_installed()
    return ExecutorChoice(name=runner.launcher, kind=kind, options=validated)
