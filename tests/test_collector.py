"""The collector pause of a run's set-up (kedro_dagster_runner/driver/collector.py): nodes run
with the collector on, in the driver and in workers forked during the pause; the first run of a
process freezes its set-up and the next run gives it back; a refused configuration, or a process
that manages its own collector, is left as it was. Each scenario runs in a fresh interpreter
(tests/collector_probe.py), where Dagster is not imported yet."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

PROBE = Path(__file__).with_name("collector_probe.py")
DAGSTER_IMPORTS = 100_000
"""Fewer objects than importing Dagster creates: a freeze after it holds more."""


def _probe(scenario: str, tmp_path: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(PROBE), scenario],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_worker_forked_during_the_pause_collects_and_the_next_run_gives_the_freeze_back(
    tmp_path: Path,
) -> None:
    report = _probe("multiprocess_first", tmp_path)

    # a refused dagster.yml: the collector is back on and nothing is frozen
    assert report["refused"] == {"enabled": True, "frozen": 0}
    # first run: the pool forked during the pause; its worker froze what it inherited from the
    # driver and collects the rest
    multiprocess = report["multiprocess"]
    assert multiprocess["node"]["pid"] != report["driver_pid"]
    assert multiprocess["node"]["enabled"] is True
    assert multiprocess["node"]["frozen"] > 10_000
    assert multiprocess["node"]["seed"] == 7
    assert multiprocess["after"]["enabled"] is True
    assert multiprocess["after"]["frozen"] > DAGSTER_IMPORTS
    # second run: Dagster is imported, the first run's freeze is given back, nothing frozen
    in_process = report["in_process"]
    assert in_process["node"]["pid"] == report["driver_pid"]
    assert in_process["node"] == {**in_process["node"], "enabled": True, "frozen": 0}
    assert in_process["after"] == {"enabled": True, "frozen": 0}


def test_nodes_in_the_driver_run_after_the_freeze_with_the_collector_on(tmp_path: Path) -> None:
    report = _probe("in_process_first", tmp_path)

    first = report["first"]
    assert first["node"]["pid"] == report["driver_pid"]
    assert first["node"]["enabled"] is True
    assert first["node"]["frozen"] > DAGSTER_IMPORTS  # frozen before the node ran
    assert first["after"]["enabled"] is True
    # the process froze more after the first run: the second run gives nothing back
    second = report["second"]
    assert second["node"]["enabled"] is True
    assert second["after"]["enabled"] is True
    assert second["after"]["frozen"] >= 0.9 * report["frozen_by_process"]


def test_a_process_whose_collector_is_off_keeps_it_off(tmp_path: Path) -> None:
    report = _probe("collector_off", tmp_path)

    assert report["in_process"]["node"]["enabled"] is False
    assert report["in_process"]["after"] == {"enabled": False, "frozen": 0}


def test_a_process_that_froze_objects_keeps_them_frozen_and_nothing_more(tmp_path: Path) -> None:
    report = _probe("objects_frozen", tmp_path)
    before = report["frozen_before"]

    assert report["in_process"]["node"]["enabled"] is True
    after = report["in_process"]["after"]
    assert after["enabled"] is True
    # neither given back nor frozen more (frozen objects that are freed leave the count)
    assert 0.9 * before <= after["frozen"] <= before
