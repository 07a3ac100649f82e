"""dagster.yml's sensors: bad entries name the key to fix before anything loads (the sensors of
the code location are tested in integration/test_code_location_definitions.py)."""

from __future__ import annotations

import pytest

from kedro_dagster_runner.config import resolve_config
from kedro_dagster_runner.errors import ConfigError


@pytest.mark.parametrize(
    ("sensor", "expected"),
    [
        ({"run_status": "FAILURE"}, "set hook ('module:function') or launch (a job), or both"),
        ({"hook": "no_colon"}, "hook: expected 'module:function', got 'no_colon'"),
        ({"hook": "a:b", "run_status": "BROKEN"}, "sensors.s.run_status"),
    ],
)
def test_bad_sensor_entries_name_the_key_to_fix(sensor: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        resolve_config({"sensors": {"s": sensor}})

    assert expected in str(error.value)
