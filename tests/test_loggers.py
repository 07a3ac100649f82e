"""dagster.yml's loggers (kedro-dagster's format) get the run's Dagster event log: for `kedro run`
(``runner.loggers``, or the job's own) and for the code location's jobs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from kedro_projects import RUNNER, KedroRunner

from kedro_dagster_runner.config import resolve_config
from kedro_dagster_runner.errors import ConfigError


def _file_logger(path: Path, level: str = "debug") -> dict:
    return {
        "log_level": level,
        "formatters": {"plain": {"format": "%(levelname)s|%(message)s"}},
        "handlers": [{"class": "logging.FileHandler", "filename": str(path), "formatter": "plain"}],
    }


def _step_events(path: Path, event: str) -> list[str]:
    return [line for line in path.read_text().splitlines() if f" - {event} - " in line]


def test_runner_loggers_get_every_step_event_of_a_kedro_run(
    kedro_demo: KedroRunner, demo_project: Path, tmp_path: Path
) -> None:
    log = tmp_path / "events.log"
    (demo_project / "conf" / "base" / "dagster.yml").write_text(
        yaml.safe_dump(
            {"loggers": {"file_log": _file_logger(log)}, "runner": {"loggers": ["file_log"]}}
        )
    )

    result = kedro_demo("--runner", RUNNER)

    assert result.returncode == 0, result.output
    assert len(_step_events(log, "STEP_SUCCESS")) == 8  # every node of the demo's pipeline
    assert len(_step_events(log, "RUN_SUCCESS")) == 1
    assert all(
        line.startswith("DEBUG|kedro_default - ") for line in _step_events(log, "STEP_START")
    )


@pytest.mark.parametrize(
    ("file", "expected"),
    [
        (
            {"runner": {"loggers": ["fil_log"]}, "loggers": {"file_log": {}}},
            "runner.loggers: no logger 'fil_log' under 'loggers' (did you mean file_log?)",
        ),
        (
            {"jobs": {"j": {"loggers": ["nope"]}}},
            "jobs.j.loggers: no logger 'nope' under 'loggers'; defined: none",
        ),
        (
            {
                "loggers": {
                    "l": {"handlers": [{"class": "logging.StreamHandler", "formatter": "f"}]}
                }
            },
            "handler 0 uses formatter 'f', not under formatters (none)",
        ),
        (
            {"loggers": {"l": {"log_level": "LOUD"}}},
            "loggers.l.log_level",
        ),
    ],
)
def test_bad_loggers_name_the_key_to_fix(file: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        resolve_config(file)

    assert expected in str(error.value)


def test_a_jobs_loggers_replace_the_runners_for_that_job() -> None:
    config = resolve_config(
        {
            "loggers": {"a": {}, "b": {}},
            "jobs": {"j": {"loggers": ["b"]}, "k": {}},
            "runner": {"loggers": ["a"], "job": "j"},
        }
    )
    assert list(config.run_loggers()) == ["b"]
    assert list(config.loggers_of(None)) == ["a"]
    assert json.dumps(list(config.loggers_of("k"))) == "[]"
