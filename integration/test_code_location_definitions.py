"""The code location's definitions from dagster.yml, built in a fresh interpreter: sensors on the
named jobs (the project's hook and the job to launch checked when it loads), a job's inline
logger, the example project's job, schedule and sensor."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

DESCRIBE = """
import json, sys
from kedro_dagster_runner.ui.code_location import build_definitions
try:
    sensors = build_definitions(sys.argv[1]).sensors
except Exception as error:
    print(json.dumps({"error": type(error).__name__, "message": str(error)}))
else:
    print(json.dumps([{
        "name": s.name,
        "jobs": sorted(t.job_name for t in s.targets),
        "status": s.default_status.value,
    } for s in sensors]))
"""

JOBS = {"first_total": {"pipeline": {"to_outputs": ["first.total"]}}}


def _describe(project: Path, sensors: dict) -> object:
    (project / "conf" / "base" / "dagster.yml").write_text(
        yaml.safe_dump({"jobs": JOBS, "sensors": sensors})
    )
    completed = subprocess.run(
        [sys.executable, "-c", DESCRIBE, str(project)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_a_sensor_targets_the_job_it_launches(demo_project: Path) -> None:
    """(Which runs it watches is checked where the daemon evaluates it, in integration/.)"""
    described = _describe(
        demo_project,
        {
            "retry_totals": {
                "run_status": "FAILURE",
                "jobs": ["kedro_failing"],
                "hook": "demo_project.alerts:record",
                "launch": "first_total",
                "default_status": "RUNNING",
            }
        },
    )
    assert described == [
        {
            "name": "retry_totals",
            "jobs": ["first_total"],
            "status": "RUNNING",
        }
    ]


@pytest.mark.parametrize(
    ("sensor", "expected"),
    [
        (
            {"jobs": ["kedro_nope"], "hook": "demo_project.alerts:record"},
            "sensors.s.jobs: no job 'kedro_nope' in the code location",
        ),
        (
            {"launch": "nope"},
            "sensors.s.launch: no job 'nope' in the code location",
        ),
        (
            {"hook": "demo_project.alerts:missing"},
            "sensors.s.hook: cannot import 'demo_project.alerts:missing'",
        ),
    ],
)
def test_a_sensor_naming_what_does_not_exist_fails_the_code_location_naming_it(
    demo_project: Path, sensor: dict, expected: str
) -> None:
    described = _describe(demo_project, {"s": sensor})

    assert described["error"] == "ConfigError"
    assert expected in described["message"]


def test_the_example_project_has_its_job_schedule_and_sensor(example_project: Path) -> None:
    script = (
        "import json, sys\n"
        "from kedro_dagster_runner.ui.code_location import build_definitions\n"
        "d = build_definitions(sys.argv[1])\n"
        "print(json.dumps({\n"
        "  'jobs': sorted(j.name for j in d.jobs),\n"
        "  'schedules': [(s.name, s.job_name, s.cron_schedule) for s in d.schedules],\n"
        "  'sensors': [s.name for s in d.sensors],\n"
        "}))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script, str(example_project)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    described = json.loads(completed.stdout.strip().splitlines()[-1])
    assert described == {
        "jobs": ["kedro_data_processing", "kedro_data_science", "kedro_default", "training"],
        "schedules": [["training_nightly_schedule", "training", "0 2 * * *"]],
        "sensors": ["training_failed"],
    }


def _file_logger(path: Path, level: str = "debug") -> dict:
    return {
        "log_level": level,
        "formatters": {"plain": {"format": "%(levelname)s|%(message)s"}},
        "handlers": [{"class": "logging.FileHandler", "filename": str(path), "formatter": "plain"}],
    }


def _step_events(path: Path, event: str) -> list[str]:
    return [line for line in path.read_text().splitlines() if f" - {event} - " in line]


def test_a_jobs_inline_logger_is_attached_to_its_code_location_job(
    demo_project: Path, tmp_path: Path
) -> None:
    log = tmp_path / "job.log"
    (demo_project / "conf" / "base" / "dagster.yml").write_text(
        yaml.safe_dump(
            {
                "jobs": {
                    "first_total": {
                        "pipeline": {"to_outputs": ["first.total"]},
                        "loggers": [_file_logger(log)],
                    }
                }
            }
        )
    )
    script = (
        "import sys, dagster\n"
        "from dagster import DagsterInstance\n"
        "job = dagster.build_reconstructable_job('kedro_dagster_runner.ui.code_location',"
        " 'job_named', reconstructable_args=(sys.argv[1], None, 'first_total'))\n"
        "with DagsterInstance.local_temp() as instance:\n"
        "    assert dagster.execute_job(job, instance=instance).success\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", script, str(demo_project)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    assert len(_step_events(log, "STEP_SUCCESS")) == 3
    assert _step_events(log, "RUN_SUCCESS")[0].startswith("DEBUG|first_total - ")
