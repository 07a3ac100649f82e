"""A Celery broker that cannot be reached stops the run before any node, naming it."""

from __future__ import annotations

import socket
import time

import pytest

from kedro_dagster_runner.errors import DagsterRunnerError
from kedro_dagster_runner.executors.celery import CeleryLauncher, CeleryOptions
from kedro_dagster_runner.spec import NodeSpec, RunSpec


def _dead_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    "broker", ["amqp://guest:s3cret@127.0.0.1:{port}//", "redis://:s3cret@127.0.0.1:{port}/0"]
)
def test_a_dead_broker_is_named_with_its_password_masked(broker: str) -> None:
    port = _dead_port()
    spec = RunSpec("r", "kedro_default", [NodeSpec("n", "n", [], [])], "celery")
    options = CeleryOptions(broker=broker.format(port=port), worker_check_timeout=1.0)

    started = time.monotonic()
    with pytest.raises(DagsterRunnerError) as raised, CeleryLauncher(spec, options):
        pass

    message = str(raised.value)
    assert f"Cannot reach the Celery broker at 127.0.0.1:{port}" in message
    assert "'broker' option" in message and "***" in message
    assert "s3cret" not in message
    assert time.monotonic() - started < 30  # fails fast, no endless reconnection
