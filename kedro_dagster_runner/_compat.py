"""The one door to private Dagster, Kedro and MLflow APIs.

Dagster has no public names for what an executor of its own needs (the plan walker, step event
payloads, retry modes, running a created run in this process), for building an instance from a
``dagster.yaml`` directory or for telling launchers apart; Kedro has none for building a catalog
with a given save version or for the session's hook manager. Every such use in the package goes
through this module, and ``tests/test_compat.py`` checks each entry of :data:`DAGSTER_SYMBOLS`
and each accessor below against the installed releases, failing with the symbol's name when an
upgrade moves it.

Dagster symbols are resolved on first attribute access (``_compat.ActiveExecution``), so modules
that only need the Kedro accessors do not import Dagster. Where a public name exists, the package
uses it directly (``dagster.DagsterEvent``, ``dagster.serialize_value``,
``dagster_shared.error.SerializableErrorInfo``).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from kedro_dagster_runner.errors import CompatError

if TYPE_CHECKING:  # the same symbols, for annotations
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing.process import BaseProcess

    from dagster._core.definitions.job_base import IJob, InMemoryJob
    from dagster._core.definitions.reconstruct import ReconstructableJob
    from dagster._core.events.log import EventLogEntry
    from dagster._core.execution.context.system import (
        PlanOrchestrationContext,
    )
    from dagster._core.execution.plan.active import ActiveExecution
    from dagster._core.execution.plan.instance_concurrency_context import (
        InstanceConcurrencyContext,
    )
    from dagster._core.execution.plan.objects import StepSuccessData
    from dagster._core.execution.plan.outputs import StepOutputData, StepOutputHandle
    from dagster._core.execution.plan.plan import ExecutionPlan
    from dagster._core.execution.retries import RetryMode
    from dagster._core.executor.in_process import InProcessExecutor
    from dagster._core.launcher import RunLauncher, WorkerStatus
    from dagster._loggers import default_loggers
    from kedro.framework.context import KedroContext
    from kedro.framework.session.abstract_session import AbstractSession
    from kedro.io import AbstractDataset, CatalogProtocol, Version
    from kedro.pipeline import Pipeline
    from kedro.pipeline.node import Node
    from kedro.runner import AbstractRunner
    from mlflow import ActiveRun
    from pluggy import PluginManager

__all__ = [  # the Dagster symbols resolve lazily through __getattr__
    "DAGSTER_SYMBOLS",
    "KEDRO_ATTRIBUTES",
    "MLFLOW_ATTRIBUTES",
    "ActiveExecution",
    "EventLogEntry",
    "ExecutionPlan",
    "IJob",
    "InMemoryJob",
    "InProcessExecutor",
    "InstanceConcurrencyContext",
    "PlanOrchestrationContext",
    "ReconstructableJob",
    "RetryMode",
    "RunLauncher",
    "StepOutputData",
    "StepOutputHandle",
    "StepSuccessData",
    "WorkerStatus",
    "build_catalog",
    "check_parallel_catalog",
    "check_parallel_nodes",
    "class_path",
    "context_package_name",
    "context_runtime_params",
    "dataset_filepath",
    "dataset_version",
    "dataset_versioned_path",
    "default_loggers",
    "import_instance_storage",
    "is_ephemeral",
    "log_to_event_log",
    "mlflow_active_run_stack",
    "open_project_session",
    "pool_processes",
    "replace_dataset",
    "resolve",
    "session_hook_manager",
    "suggest_resume",
    "worker_hook_manager",
]

# name -> "module:attribute" of every private Dagster symbol the package uses.
DAGSTER_SYMBOLS: Mapping[str, str] = {
    "ActiveExecution": "dagster._core.execution.plan.active:ActiveExecution",
    "InstanceConcurrencyContext": (
        "dagster._core.execution.plan.instance_concurrency_context:InstanceConcurrencyContext"
    ),
    "StepSuccessData": "dagster._core.execution.plan.objects:StepSuccessData",
    "StepOutputData": "dagster._core.execution.plan.outputs:StepOutputData",
    "StepOutputHandle": "dagster._core.execution.plan.outputs:StepOutputHandle",
    "RetryMode": "dagster._core.execution.retries:RetryMode",
    "ExecutionPlan": "dagster._core.execution.plan.plan:ExecutionPlan",
    "PlanOrchestrationContext": "dagster._core.execution.context.system:PlanOrchestrationContext",
    "EventLogEntry": "dagster._core.events.log:EventLogEntry",
    "execute_run_iterator": "dagster._core.execution.api:execute_run_iterator",
    "InProcessExecutor": "dagster._core.executor.in_process:InProcessExecutor",
    "InstanceRef": "dagster._core.instance.ref:InstanceRef",
    "ReconstructableJob": "dagster._core.definitions.reconstruct:ReconstructableJob",
    "InMemoryJob": "dagster._core.definitions.job_base:InMemoryJob",
    "default_loggers": "dagster._loggers:default_loggers",
    # the ephemeral instance of deploy/ephemeral.py, as DagsterInstance.ephemeral builds it
    "InMemoryEventLogStorage": "dagster._core.storage.event_log.in_memory:InMemoryEventLogStorage",
    "SqlEventLogStorage": "dagster._core.storage.event_log.sql_event_log:SqlEventLogStorage",
    "InMemoryRunStorage": "dagster._core.storage.runs:InMemoryRunStorage",
    "InstanceType": "dagster._core.instance.types:InstanceType",
    "NoOpComputeLogManager": "dagster._core.storage.noop_compute_log_manager:NoOpComputeLogManager",
    "TemporaryLocalArtifactStorage": "dagster._core.storage.root:TemporaryLocalArtifactStorage",
    "IJob": "dagster._core.definitions.job_base:IJob",
    "RunLauncher": "dagster._core.launcher:RunLauncher",
    "DefaultRunLauncher": "dagster._core.launcher:DefaultRunLauncher",
    "SyncInMemoryRunLauncher": (
        "dagster._core.launcher.sync_in_memory_run_launcher:SyncInMemoryRunLauncher"
    ),
    "WorkerStatus": "dagster._core.launcher:WorkerStatus",
    "DefaultRunCoordinator": "dagster._core.run_coordinator:DefaultRunCoordinator",
    # the storage base classes DagsterInstance.__init__ imports whatever storage it is given
    "EventLogStorage": "dagster._core.storage.event_log:EventLogStorage",
    "RunStorage": "dagster._core.storage.runs:RunStorage",
    "ScheduleStorage": "dagster._core.storage.schedules:ScheduleStorage",
    "DagsterLogHandler": "dagster._core.log_manager:DagsterLogHandler",
    # not used at run time: tests/test_naming.py checks naming.RESERVED_NAMES covers it
    "DISALLOWED_NAMES": "dagster._core.definitions.utils:DISALLOWED_NAMES",
}

# Private attributes of Kedro classes used below (tests/test_compat.py checks them, and the
# instance attributes on a real session); MLflow's, checked by integration/test_mlflow.py.
KEDRO_ATTRIBUTES: Mapping[str, str] = {
    "KedroContext._get_catalog": "kedro.framework.context:KedroContext._get_catalog",
    "AbstractRunner._suggest_resume_scenario": (
        "kedro.runner:AbstractRunner._suggest_resume_scenario"
    ),
    "ParallelRunner._validate_nodes": "kedro.runner:ParallelRunner._validate_nodes",
    "SharedMemoryDataCatalog.validate_catalog": (
        "kedro.io:SharedMemoryDataCatalog.validate_catalog"
    ),
    "_create_hook_manager": "kedro.framework.hooks.manager:_create_hook_manager",
    "_register_hooks": "kedro.framework.hooks.manager:_register_hooks",
    "_register_hooks_entry_points": "kedro.framework.hooks.manager:_register_hooks_entry_points",
}
MLFLOW_ATTRIBUTES: Mapping[str, str] = {
    "fluent._active_run_stack": "mlflow.tracking.fluent:_active_run_stack",
}


def resolve(target: str) -> Any:
    """Import ``"module:attribute.path"``; :class:`CompatError` names it when it is gone."""
    module_name, _, attribute_path = target.partition(":")
    try:
        value: Any = importlib.import_module(module_name)
        for part in attribute_path.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError) as error:
        raise CompatError(
            f"{target} is not available in the installed release ({error}); this version of "
            "kedro-dagster-runner does not support it: see README.md for the supported versions."
        ) from error
    return value


def __getattr__(name: str) -> Any:
    target = DAGSTER_SYMBOLS.get(name)
    if target is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = resolve(target)
    globals()[name] = value  # resolved once
    return value


def import_instance_storage() -> None:
    """Import Dagster and the storage packages every ``DagsterInstance`` imports, whatever
    storage it is given (SQLAlchemy and alembic among them)."""
    for name in ("EventLogStorage", "RunStorage", "ScheduleStorage"):
        resolve(DAGSTER_SYMBOLS[name])


def class_path(name: str) -> tuple[str, str]:
    """``(module, class)`` of a Dagster symbol, for ``dagster.yaml`` sections."""
    module_name, _, attribute = DAGSTER_SYMBOLS[name].partition(":")
    return module_name, attribute


# Kedro --------------------------------------------------------------------------------------


def build_catalog(
    context: KedroContext,
    save_version: str,
    load_versions: Mapping[str, str] | None,
    pipeline_names: list[str] | None = None,
) -> CatalogProtocol:
    """The project's catalog as ``KedroSession.run`` builds it: the project's
    ``DATA_CATALOG_CLASS``, the run's save and load versions, and parameter validation scoped to
    the run's pipelines (Kedro 1.4+)."""
    import inspect

    from kedro.framework.project import settings

    names = pipeline_names or ["__default__"]
    if "__default__" not in names and hasattr(context, "_pipelines_to_validate"):
        context._pipelines_to_validate = list(names)
    options: dict[str, Any] = {"save_version": save_version, "load_versions": load_versions or None}
    if "catalog_class" in inspect.signature(context._get_catalog).parameters:
        options["catalog_class"] = settings.DATA_CATALOG_CLASS
    return context._get_catalog(**options)


def replace_dataset(catalog: CatalogProtocol, name: str, dataset: AbstractDataset) -> None:
    """``catalog[name] = dataset`` without Kedro's "Replacing dataset" warning, keeping the
    validator declared for ``name`` (Kedro 1.7 drops it with the replaced dataset)."""
    specs = getattr(catalog, "_validator_specs", None)
    validator = specs.get(name) if isinstance(specs, dict) else None
    logger = logging.getLogger("kedro.io.data_catalog")  # DataCatalog._logger
    replacing = f"Replacing dataset '{name}'"

    def not_this_replacement(record: logging.LogRecord) -> bool:
        return record.getMessage() != replacing

    logger.addFilter(not_this_replacement)
    try:
        catalog[name] = dataset
    finally:
        logger.removeFilter(not_this_replacement)
    if validator is not None and isinstance(specs, dict):
        specs[name] = validator


def open_project_session(
    session_class: type[AbstractSession],
    project_path: str,
    env: str | None,
    conf_source: str | None,
    runtime_params: Mapping[str, Any],
    pipeline_names: list[str] | None,
) -> tuple[AbstractSession, KedroContext]:
    """A session of the project's ``SESSION_CLASS`` and its context with the run's
    ``--params``, as the driver's session built them: ``KedroSession`` takes them when it is
    created, ``KedroServiceSession`` when its context is loaded."""
    from kedro.framework.project import pipelines
    from kedro.framework.session import KedroSession

    if hasattr(pipelines, "set_requested"):  # Kedro 1.5+: load only the run's pipelines
        pipelines.set_requested(pipeline_names or None)
    params = dict(runtime_params) or None
    if issubclass(session_class, KedroSession):
        session = session_class.create(
            project_path=project_path, env=env, runtime_params=params, conf_source=conf_source
        )
        return session, session.load_context()
    session = session_class.create(project_path=project_path, env=env, conf_source=conf_source)
    return session, session.load_context(params)  # type: ignore[attr-defined]


def project_session_class() -> type[AbstractSession]:
    """The project's ``SESSION_CLASS`` (a setting since Kedro 1.3; ``KedroSession`` before)."""
    from kedro.framework.project import settings
    from kedro.framework.session import KedroSession

    return getattr(settings, "SESSION_CLASS", KedroSession)


def worker_hook_manager(hooks: Iterable[object]) -> PluginManager:
    """A hook manager as Kedro builds one in a ParallelRunner worker: ``hooks`` and the
    installed plugins' (less ``DISABLE_HOOKS_FOR_PLUGINS``)."""
    from kedro.framework.hooks.manager import (
        _create_hook_manager,
        _register_hooks,
        _register_hooks_entry_points,
    )
    from kedro.framework.project import settings

    manager = _create_hook_manager()
    _register_hooks(manager, hooks)
    _register_hooks_entry_points(manager, settings.DISABLE_HOOKS_FOR_PLUGINS)
    return manager


def session_run_params(
    run_id: str,
    project_path: str,
    env: str | None,
    pipeline_names: list[str],
    node_names: list[str],
    runner: str,
    runtime_params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``run_params`` ``KedroSession.run`` passes to pipeline hooks, in this Kedro's shape:
    the run's id under ``run_id`` (Kedro 1.3+) or ``session_id``, its pipelines under
    ``pipeline_names`` (1.2+) or ``pipeline_name``."""
    import inspect
    from pathlib import PurePath

    from kedro import __version__ as kedro_version
    from kedro.framework.session import KedroSession

    session_run = inspect.signature(KedroSession.run).parameters
    version = tuple(int(part) for part in kedro_version.split(".")[:2])
    params: dict[str, Any] = {"run_id" if version >= (1, 3) else "session_id": run_id}
    params.update(
        project_path=PurePath(project_path).as_posix(),
        env=env,
        kedro_version=kedro_version,
        tags=None,
        from_nodes=None,
        to_nodes=None,
        node_names=node_names,
        from_inputs=None,
        to_outputs=None,
        load_versions=None,
        runtime_params=dict(runtime_params or {}),
    )
    if "pipeline_names" in session_run:
        params["pipeline_names"] = list(pipeline_names)
    else:
        params["pipeline_name"] = pipeline_names[0]
    params.update(namespaces=None, runner=runner, only_missing_outputs=False)
    return params


def session_hook_manager(session: AbstractSession) -> PluginManager:
    """The hook manager of a session (node and dataset hooks fire on it)."""
    return session._hook_manager


def context_package_name(context: KedroContext) -> str | None:
    """The project's package name as the context knows it (Kedro 1.0-1.1 sessions created
    without ``package_name`` leave it ``None``: then the one ``bootstrap_project`` configured,
    as Kedro 1.2+ does)."""
    name = getattr(context, "_package_name", None)
    if name is None:
        from kedro.framework import project

        name = project.PACKAGE_NAME
    return name


def context_runtime_params(context: KedroContext) -> dict[str, Any]:
    """The ``--params`` the context was created with."""
    return dict(getattr(context, "_runtime_params", None) or {})


def dataset_filepath(dataset: AbstractDataset) -> str | None:
    """The file path of a file-based dataset, or ``None``."""
    filepath = getattr(dataset, "_filepath", None)
    return None if filepath is None else str(filepath)


def dataset_version(dataset: AbstractDataset) -> Version | None:
    """A versioned dataset's ``Version(load, save)``, or ``None``."""
    return getattr(dataset, "_version", None)


def dataset_versioned_path(dataset: AbstractDataset, version: str) -> str | None:
    """The file path of one version of a versioned dataset, or ``None``."""
    method = getattr(dataset, "_get_versioned_path", None)
    return None if method is None else str(method(version))


def is_ephemeral(dataset: AbstractDataset) -> bool:
    """True for datasets that keep data in memory only (Kedro's ``_EPHEMERAL`` flag)."""
    return bool(getattr(dataset, "_EPHEMERAL", False))


def check_parallel_nodes(nodes: Iterable[Node]) -> None:
    """Kedro's ParallelRunner check that nodes can be sent to worker processes (its
    ``AttributeError`` naming the nodes: lambdas, closures, undecorated wrappers)."""
    from kedro.runner import ParallelRunner

    ParallelRunner._validate_nodes(nodes)


def check_parallel_catalog(catalog: CatalogProtocol) -> None:
    """Kedro's ParallelRunner check that a catalog's datasets can be sent to worker processes
    (its ``AttributeError`` naming single-process and unpicklable datasets), for any catalog
    class: ``SharedMemoryDataCatalog.validate_catalog`` reads only the catalog's datasets."""
    from kedro.io import SharedMemoryDataCatalog

    SharedMemoryDataCatalog.validate_catalog(catalog)  # type: ignore[arg-type]


def suggest_resume(
    runner: AbstractRunner, pipeline: Pipeline, done: Iterable[Node], catalog: CatalogProtocol
) -> None:
    """Log Kedro's "resume with --from-nodes" hint, as Kedro's own runners do on failure."""
    runner._suggest_resume_scenario(pipeline, list(done), catalog)


class DeclaredValidator(NamedTuple):
    """A dataset's ``validator:`` declaration: class path, modes (load, save), severity."""

    class_path: str
    modes: tuple[str, ...]
    severity: str


def declared_validators(catalog: CatalogProtocol) -> dict[str, DeclaredValidator]:
    """Dataset -> its ``validator:`` declaration (Kedro 1.7+ ``DataCatalog.validator_specs``;
    empty before, or for catalogs without it)."""
    specs = getattr(catalog, "validator_specs", None)
    if not isinstance(specs, dict):
        return {}
    return {
        name: DeclaredValidator(spec.class_path, tuple(spec.on), str(spec.severity))
        for name, spec in specs.items()
    }


def watch_validation(
    catalog: CatalogProtocol,
    sink: Callable[[str, str, bool, str, str, str], None],
    names: Iterable[str] = (),
) -> Callable[[], None] | None:
    """Report every validation Kedro's catalog applies (its ``_validate`` funnel, Kedro 1.7+)
    to ``sink(dataset, mode, passed, severity, validator class path, message)``; returns the
    function that stops it, or ``None`` when the catalog declares no validator.

    ``names`` are looked up first: a validator declared on a dataset factory pattern is known
    to the catalog only once a dataset of that pattern was. A validator declared with
    ``severity: warn`` that fails only makes Kedro log a warning and return the data, which
    looks like a pass to the caller: the validator itself is wrapped, so its failure is seen
    whatever the logging configuration.
    """
    specs = getattr(catalog, "_validator_specs", None)
    validators = getattr(catalog, "_validators", None)
    if not isinstance(specs, dict) or not isinstance(validators, dict):
        return None
    for name in names:
        if name in catalog:
            catalog.get(name)
    if not specs or "_validate" in vars(catalog):
        return None
    import threading

    from kedro.validation.core import resolve_validator
    from kedro.validation.exceptions import DataValidationError

    original = catalog._validate  # type: ignore[attr-defined]
    state = threading.local()

    class _Recording:
        """A resolved validator that notes its failure before Kedro handles it."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def validate(self, data: Any) -> Any:
            try:
                return self.inner.validate(data)
            except Exception as error:
                state.failure = str(error)
                raise

    def validate(ds_name: str, data: Any, mode: str) -> Any:
        spec = specs.get(ds_name)
        saved_before = ds_name in getattr(catalog, "_save_validated", ())
        applies = (
            spec is not None
            and mode in spec.on
            and spec.enabled
            and not (mode == "load" and spec.skip_load_after_save and saved_before)
        )
        if not applies:
            return original(ds_name, data, mode)
        current = validators.get(ds_name)
        if not isinstance(current, _Recording):
            validators[ds_name] = _Recording(current or resolve_validator(spec))
        state.failure = None
        try:
            validated = original(ds_name, data, mode)
        except DataValidationError as error:
            sink(ds_name, mode, False, spec.severity, spec.class_path, str(error))
            raise
        failure = state.failure
        sink(ds_name, mode, failure is None, spec.severity, spec.class_path, failure or "")
        return validated

    catalog._validate = validate  # type: ignore[attr-defined]

    def stop() -> None:
        vars(catalog).pop("_validate", None)
        for name, validator in list(validators.items()):
            if isinstance(validator, _Recording):
                validators[name] = validator.inner

    return stop


# Dagster objects and the standard library ------------------------------------------------


def log_to_event_log(log_manager: logging.Logger, level: int, message: str) -> None:
    """Write a record to the run's event log only, whatever the log manager's own level.

    Node code's records already went to the terminal through the node process's own handlers;
    a Dagster log manager would also hand them to the run's console logger (printing them a
    second time with ``dagster_logs: info``), so they go to its built-in handlers (the event
    log) alone. The manager's level derives from the recording process's root logger, which
    differs between ``kedro run`` and a bare run worker: bypassing it stores the same records
    in every process.
    """
    handler_class = resolve(DAGSTER_SYMBOLS["DagsterLogHandler"])
    record = log_manager.makeRecord(log_manager.name, level, "(node)", 0, message, (), None)
    for handler in log_manager.handlers:
        if isinstance(handler, handler_class):
            dagster_record = handler._convert_record(record)
            for built_in in handler._handlers:
                if dagster_record.levelno >= built_in.level:
                    built_in.handle(dagster_record)


def pool_processes(pool: ProcessPoolExecutor) -> list[BaseProcess]:
    """The worker processes of a process pool (the standard library has no public handle)."""
    return list((getattr(pool, "_processes", None) or {}).values())


# MLflow ---------------------------------------------------------------------------------------


def mlflow_active_run_stack() -> list[ActiveRun]:
    """This thread's active-run stack of MLflow's fluent API (a context variable in MLflow 3,
    a plain list before); MLflow has no public handle on it."""
    from mlflow.tracking import fluent

    holder = fluent._active_run_stack
    return holder.get() if hasattr(holder, "get") else holder
