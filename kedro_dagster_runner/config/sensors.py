"""The ``sensors`` section of ``dagster.yml``: react to the end of runs of the code location's
jobs, by calling a function of the project (the run-status hook point) and/or launching a job.

::

    sensors:
      alert_on_failure:
        run_status: FAILURE              # SUCCESS | FAILURE | CANCELED | STARTED
        jobs: [nightly_training]         # default: every job of the code location
        hook: spaceflights.alerts:notify # called with a RunStatusEvent
      refresh_reports:
        run_status: SUCCESS
        jobs: [nightly_training]
        launch: reporting                # a job to run next
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from kedro_dagster_runner.executors.options import PositiveCount, StrictModel


class SensorSettings(StrictModel):
    """One entry of ``sensors``."""

    run_status: Literal["SUCCESS", "FAILURE", "CANCELED", "STARTED"] = "FAILURE"
    jobs: list[str] | None = Field(
        default=None, description="Jobs whose runs it watches (default: every job)."
    )
    hook: str | None = Field(
        default=None,
        description="'module:function' of the project, called with a RunStatusEvent.",
    )
    launch: str | None = Field(default=None, description="A job to launch when it fires.")
    description: str | None = None
    minimum_interval_seconds: PositiveCount | None = None
    default_status: Literal["RUNNING", "STOPPED"] = "STOPPED"
    metadata: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _does_something(self) -> SensorSettings:
        if self.hook is None and self.launch is None:
            raise ValueError("set hook ('module:function') or launch (a job), or both")
        if self.hook is not None and ":" not in self.hook:
            raise ValueError(f"hook: expected 'module:function', got '{self.hook}'")
        return self
