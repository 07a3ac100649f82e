"""The package's one exception hierarchy; each error names the thing the user has to fix.

Every error kedro-dagster-runner raises for a user to act on derives from
:class:`DagsterRunnerError`. :class:`RemoteNodeError` and :class:`RemoteTraceback` stay outside
it: they stand in for, or explain, a *node's* exception (a user error, not the package's) that was
raised in another process.
"""

from __future__ import annotations

import logging
import traceback
from typing import IO, Any

import click


class DagsterRunnerError(Exception):
    """Base class of every error raised by kedro-dagster-runner."""


class ConfigError(DagsterRunnerError, click.ClickException):
    """``dagster.yml`` or ``--runner-params`` is invalid; raised before any node runs.

    It is also a ``click.ClickException``, which is how a configuration error reaches the user
    of ``kedro run`` as its message alone rather than at the bottom of a long traceback: Kedro's
    ``run`` command lets the exception of ``session.run`` propagate, Click catches its own
    exceptions around every command and calls :meth:`show`, then exits with status 1 (what an
    uncaught exception gives). Python callers (``session.run``, ``runner.run``) get the
    ``ConfigError`` itself; ``on_pipeline_error`` fires as for any other error.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)

    def show(self, file: IO[Any] | None = None) -> None:
        """Print ``ConfigError: <message>`` on standard error; the whole traceback too when the
        ``kedro_dagster_runner`` logger is at debug level (Kedro's ``run`` has no ``--verbose``)."""
        if logging.getLogger("kedro_dagster_runner").isEnabledFor(logging.DEBUG):
            text = "".join(traceback.format_exception(type(self), self, self.__traceback__))
        else:
            text = f"{type(self).__name__}: {self.format_message()}\n"
        click.echo(text, file=file, err=file is None, nl=False)


class MissingExtraError(ConfigError):
    """The chosen executor needs a package that is not installed."""

    def __init__(self, kind: str, extra: str, module: str) -> None:
        super().__init__(
            f"Executor kind '{kind}' needs the '{module}' package, which is not installed. "
            f"Install it with: pip install 'kedro-dagster-runner[{extra}]'"
        )
        self.kind = kind
        self.extra = extra


class PartitionError(ConfigError):
    """Partitions a run cannot fan out over as asked (``partitions=``, partitioned outputs of
    different definitions); raised before any node runs."""


class GroupingError(ConfigError):
    """``runner.group_nodes`` cannot group the run's nodes as asked (a cycle between groups,
    nodes of a group with different retry policies or pools); raised before any node runs."""


class UnpicklableDataError(DagsterRunnerError):
    """Data that has to cross a process boundary cannot be serialised with cloudpickle."""


class ProjectError(DagsterRunnerError):
    """A worker cannot rebuild the driver's Kedro project (missing project, node or pipeline)."""


class WorkerLostError(DagsterRunnerError):
    """The process, task or container running a node ended without reporting the node's outcome
    (killed, out of memory, a crash in native code, a lost dask worker or Celery task)."""


class RunEndedError(DagsterRunnerError):
    """A worker was given a node of a run that has already ended (its ``kedro run`` finished,
    was interrupted or died): the node is not started, or its outputs are not saved."""


class DuplicateStepError(WorkerLostError):
    """A node was delivered a second time (a redelivered Celery task, a dask task re-run after
    its worker was lost) while its first delivery never reported: it is not run twice.

    ``first_worker`` names the worker the first delivery went to (as the caller of
    ``run_published_step`` described it)."""

    def __init__(self, message: str, first_worker: str = "") -> None:
        super().__init__(message)
        self.first_worker = first_worker


class LaunchError(DagsterRunnerError):
    """A run launcher could not start a detached run's worker."""


class ImageBuildError(DagsterRunnerError):
    """``docker build`` of a project image failed; the message ends with the tail of its output."""


class CompatError(DagsterRunnerError):
    """A private Dagster, Kedro or MLflow API the package relies on moved in this release."""


class RunStoppedError(DagsterRunnerError):
    """A node was not started because another node of the run had failed (the run stops at its
    first failure, as Kedro's runners do). Raised by the ops of Dagster's stock executors, which
    would otherwise start every node that does not depend on the failed one."""


class NodeFailedError(DagsterRunnerError):
    """A node's exception that could not be rebuilt in the driver (its class is not importable
    there, or its process died before reporting it under one of Dagster's own executors).

    ``original`` (also the ``__cause__``) is a :class:`RemoteNodeError` with the exception's
    class and message, itself caused by a :class:`RemoteTraceback` with the node's traceback
    when it ran in another process.
    """

    def __init__(self, node_name: str, message: str, original: BaseException | None) -> None:
        super().__init__(message)
        self.node_name = node_name
        self.original = original


class RemoteTraceback(Exception):
    """The cause of a node's exception raised in another process: the node's name, the process
    and the traceback there (a traceback cannot cross processes)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f'\n"""\n{self.text}\n"""'


class RemoteNodeError(Exception):
    """Stands in for a node's exception that could not be sent back from its worker process."""

    def __init__(self, exception_class: str, message: str) -> None:
        super().__init__(f"{exception_class}: {message}")
        self.exception_class = exception_class
