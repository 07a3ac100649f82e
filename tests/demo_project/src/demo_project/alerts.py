"""A run-status hook for dagster.yml's sensors: appends each event to $DEMO_ALERTS_LOG."""

from __future__ import annotations

import json
import os
from dataclasses import asdict


def record(event: object) -> None:
    path = os.environ.get("DEMO_ALERTS_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as stream:
            stream.write(json.dumps({**asdict(event), "pid": os.getpid()}) + "\n")  # type: ignore[call-overload]
