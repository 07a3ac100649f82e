"""The ``loggers`` section of ``dagster.yml`` (kedro-dagster's format): Python loggers that
receive a run's Dagster event log (step events, node log records, engine messages).

::

    loggers:
      file_log:
        log_level: INFO
        formatters: {plain: {format: "%(asctime)s %(levelname)s %(message)s"}}
        handlers:
          - {class: logging.FileHandler, filename: logs/dagster.log, formatter: plain}
    runner:
      loggers: [file_log]          # for kedro run (a job names its own: jobs.<name>.loggers)

Each logger's ``handlers`` entries are handler dictionaries of :mod:`logging.config`, and
``formatters`` and ``filters`` its formatter and filter dictionaries; the logger is attached to
the run's Dagster job beside Dagster's console logger.
"""

from __future__ import annotations

import logging
import logging.config
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator

from kedro_dagster_runner.executors.options import StrictModel

if TYPE_CHECKING:
    import dagster

LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG", "NOTSET")
LOGGER_PREFIX = "kedro_dagster_runner.dagster_loggers"


class LoggerSettings(StrictModel):
    """One entry of ``loggers``."""

    log_level: Literal["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG", "NOTSET"] = "INFO"
    handlers: list[dict[str, Any]] = Field(default_factory=list)
    formatters: dict[str, dict[str, Any]] = Field(default_factory=dict)
    filters: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("log_level", mode="before")
    @classmethod
    def _any_case(cls, value: object) -> object:
        return value.upper().strip() if isinstance(value, str) else value

    @field_validator("handlers")
    @classmethod
    def _handlers_name_a_class(cls, handlers: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for index, handler in enumerate(handlers):
            if not isinstance(handler.get("class"), str):
                raise ValueError(f"handler {index} needs 'class', e.g. logging.StreamHandler")
        return handlers

    @model_validator(mode="after")
    def _references_exist(self) -> LoggerSettings:
        for index, handler in enumerate(self.handlers):
            formatter = handler.get("formatter")
            if formatter is not None and formatter not in self.formatters:
                raise ValueError(
                    f"handler {index} uses formatter '{formatter}', not under formatters "
                    f"({', '.join(self.formatters) or 'none'})"
                )
            for name in handler.get("filters") or []:
                if name not in self.filters:
                    raise ValueError(
                        f"handler {index} uses filter '{name}', not under filters "
                        f"({', '.join(self.filters) or 'none'})"
                    )
        return self

    def python_logger(self, name: str) -> logging.Logger:
        """The Python logger ``<prefix>.<name>`` with this entry's handlers (those of an earlier
        call closed and replaced).

        The handlers, formatters and filters are built the way ``logging.config.dictConfig``
        builds them, without calling it: ``dictConfig`` would shut down every other handler of
        the process (Kedro's own logging) on each run.
        """
        logger = logging.getLogger(f"{LOGGER_PREFIX}.{name}")
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
            handler.close()
        handlers = {str(index): dict(entry) for index, entry in enumerate(self.handlers)}
        builder = logging.config.DictConfigurator(
            {
                "formatters": dict(self.formatters),
                "filters": dict(self.filters),
                "handlers": handlers,
            }
        )
        config = builder.config  # entries are replaced by the objects built from them
        for key in self.formatters:
            config["formatters"][key] = builder.configure_formatter(config["formatters"][key])
        for key in self.filters:
            config["filters"][key] = builder.configure_filter(config["filters"][key])
        for key in handlers:
            logger.addHandler(builder.configure_handler(config["handlers"][key]))
        logger.setLevel(self.log_level)
        logger.propagate = False
        return logger


def logger_definition(name: str, settings: LoggerSettings) -> dagster.LoggerDefinition:
    """A Dagster logger that writes the run's event log to the Python logger ``name``."""
    import dagster

    def make(init_context: dagster.InitLoggerContext) -> logging.Logger:
        return settings.python_logger(name)

    return dagster.LoggerDefinition(make, description=f"dagster.yml logger '{name}'")
