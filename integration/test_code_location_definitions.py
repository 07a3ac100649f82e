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


def _printed(script: str, project: Path) -> object:
    """What ``script`` prints last, as JSON, run in a fresh interpreter on ``project``."""
    completed = subprocess.run(
        [sys.executable, "-c", script, str(project)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


def _describe(project: Path, sensors: dict) -> object:
    (project / "conf" / "base" / "dagster.yml").write_text(
        yaml.safe_dump({"jobs": JOBS, "sensors": sensors})
    )
    return _printed(DESCRIBE, project)


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
        "  'partitioned': sorted(j.name for j in d.jobs if j.partitions_def is not None),\n"
        "  'schedules': [(s.name, s.job_name, s.cron_schedule) for s in d.schedules],\n"
        "  'sensors': [s.name for s in d.sensors],\n"
        "}))\n"
    )
    assert _printed(script, example_project) == {
        "jobs": ["booking_changes", "kedro_bookings", "kedro_data_processing",
                 "kedro_data_science", "kedro_default", "kedro_fleet", "training"],
        # by day (bookings), by engine type (fleet)
        "partitioned": ["booking_changes", "kedro_bookings", "kedro_fleet"],
        "schedules": [
            ["training_nightly_schedule", "training", "0 2 * * *"],
            ["booking_changes_daily_schedule", "booking_changes", "0 3 * * *"],
        ],
        "sensors": ["training_failed"],
    }  # fmt: skip


def test_a_job_from_dagster_yml_gets_its_schedule(demo_project: Path) -> None:
    daily = {
        "cron_schedule": "0 6 * * *",
        "execution_timezone": "Europe/Paris",
        "default_status": "RUNNING",
    }
    job = {**JOBS["first_total"], "schedule": "daily"}
    (demo_project / "conf" / "base" / "dagster.yml").write_text(
        yaml.safe_dump({"jobs": {"first_total": job}, "schedules": {"daily": daily}})
    )
    script = (
        "import sys, json; from kedro_dagster_runner.ui.code_location import build_definitions\n"
        "d = build_definitions(sys.argv[1])\n"
        "s = d.resolve_schedule_def('first_total_daily_schedule')\n"
        "print(json.dumps([s.cron_schedule, s.execution_timezone, s.job_name, "
        "s.default_status.value]))"
    )
    assert _printed(script, demo_project) == ["0 6 * * *", "Europe/Paris", "first_total", "RUNNING"]
