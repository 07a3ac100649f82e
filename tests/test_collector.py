"""The collector pause of a run's set-up (kedro_dagster_runner/driver/collector.py): nodes run
with the collector on, in the driver and in workers forked during the pause; the first run of a
process freezes its set-up and the next run gives it back; a refused configuration or a process
that manages its own collector is left as it was. Each scenario runs in a fresh interpreter
(tests/collector_probe.py), where Dagster is not imported yet."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

PROBE = Path(__file__).with_name("collector_probe.py")


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


def test_nodes_run_with_the_collector_on_and_the_first_run_freezes_its_set_up(
    tmp_path: Path,
) -> None:
    report = _probe("fresh", tmp_path)

    # a refused dagster.yml: the collector is back on and nothing is frozen
    assert report["refused"] == {"enabled": True, "frozen": 0}
    # first run: the pool forked during the pause, yet its worker collects, all but what it
    # inherited from the driver
    multiprocess = report["multiprocess"]
    assert multiprocess["node"]["pid"] != report["driver_pid"]
    assert multiprocess["node"]["enabled"] is True
    assert multiprocess["node"]["frozen"] > 10_000
    assert multiprocess["node"]["seed"] == 7
    assert multiprocess["after"]["enabled"] is True
    assert multiprocess["after"]["frozen"] > 100_000  # Dagster's imports, out of collection
    # second run: Dagster is imported, the first run's objects are given back, nothing frozen
    in_process = report["in_process"]
    assert in_process["node"]["pid"] == report["driver_pid"]
    assert in_process["node"]["enabled"] is True
    assert in_process["node"]["frozen"] == 0
    assert in_process["after"] == {"enabled": True, "frozen": 0}


def test_a_process_that_manages_its_collector_keeps_it_as_it_was(tmp_path: Path) -> None:
    report = _probe("owned", tmp_path)

    assert report["frozen_before"] > 0
    assert report["in_process"]["node"]["enabled"] is False  # the process's own choice
    after = report["in_process"]["after"]
    assert after["enabled"] is False
    # neither given back nor frozen more (frozen objects that are freed leave the count)
    assert 0.9 * report["frozen_before"] <= after["frozen"] <= report["frozen_before"]
