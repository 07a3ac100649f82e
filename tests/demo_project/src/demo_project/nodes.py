"""Node functions of the demo project: small, deterministic, some of them failing on purpose."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from kedro_dagster_runner.logging import getLogger


def double(numbers: list[int], factor: int) -> list[int]:
    return [n * factor for n in numbers]


def add_offset(values: list[int], stats: dict[str, Any]) -> list[int]:
    return [v + stats["offset"] for v in values]


def total(values: list[int]) -> int:
    return sum(values)


def summarise(values: list[int], first: int, second: int) -> dict[str, Any]:
    return {"count": len(values), "max": max(values), "first": first, "second": second}


def make_report(summary: dict[str, Any]) -> str:
    return f"{summary['count']} values, max {summary['max']}"


def spread(values: list[int]) -> dict[str, int]:
    getLogger(__name__).info("spread of %d values", len(values))
    return {"min": min(values), "max": max(values)}


def flaky(values: list[int]) -> dict[str, Any]:
    """Fails until the file data/out/flaky.ok exists (to test re-execution from failure)."""
    from pathlib import Path

    if not Path("data/out/flaky.ok").exists():
        raise RuntimeError("flaky failed: data/out/flaky.ok is missing")
    return {"count": len(values), "max": max(values)}


def wait_for_release(values: list[int]) -> int:
    """Blocks until data/out/release exists (at most 5 minutes): a node that is still running."""
    import time
    from pathlib import Path

    deadline = time.monotonic() + 300
    while not Path("data/out/release").exists():
        if time.monotonic() > deadline:
            raise TimeoutError("data/out/release never appeared")
        time.sleep(0.2)
    return len(values)


def hold(values: list[int], release: str) -> int:
    """Blocks until the file ``release`` exists (at most 2 minutes): a node still running when
    its run is interrupted or its worker killed (``--params release=<path>``). Fails when the
    file says ``fail``."""
    import time
    from pathlib import Path

    deadline = time.monotonic() + 120
    while not Path(release).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{release} never appeared")
        time.sleep(0.1)
    if Path(release).read_text().strip() == "fail":
        raise ValueError(f"{release} says fail")
    return len(values)


def die(values: list[int]) -> list[int]:
    """Kill the process running the node, as the OOM killer would."""
    import os
    import signal

    os.kill(os.getpid(), signal.SIGKILL)
    return values


def explode(values: list[int]) -> list[int]:
    raise ValueError(f"explode refused {len(values)} values")


class LocalHandle:
    """Stands for a process-bound resource (a connection, a lock): copyable, never picklable."""

    def __deepcopy__(self, memo: dict) -> LocalHandle:
        return self

    def __reduce__(self) -> Any:
        raise TypeError("a LocalHandle is bound to its process")


def make_lock(values: list[int]) -> Any:
    return LocalHandle()


def use_lock(lock: Any) -> int:
    return 1


class Rate(BaseModel):
    """A typed parameter: Kedro 1.7 validates ``params:rate`` against it."""

    per_second: int


def use_rate(values: list[int], rate: Rate) -> int:
    return len(values) * rate.per_second


def scale_partitions(parts: dict[str, Any], factor: int) -> dict[str, list[int]]:
    """Each partition, loaded and multiplied (a map over partitions: fans out per key)."""
    return {key: [value * factor for value in load()] for key, load in parts.items()}


def shift_partitions(parts: dict[str, Any]) -> tuple[dict[str, list[int]], bool]:
    """Each partition plus its own length; also a Nothing edge for the nodes that follow (any
    value but None: Kedro refuses to save None)."""
    shifted = {}
    for key, load in parts.items():
        values = load()
        shifted[key] = [value + len(values) for value in values]
    return shifted, True


def combine_partitions(parts: dict[str, Any]) -> dict[str, int]:
    """An aggregate over every partition (runs once)."""
    return {key: sum(load()) for key, load in sorted(parts.items())}


def after_combined(combined: dict[str, int], _shifted_done: None) -> str:
    return f"{len(combined)} partitions combined"


def daily_deltas(days: dict[str, Any]) -> dict[str, int]:
    """Each day minus the day before (0 for a day whose previous day is not given)."""
    values = {key: load() for key, load in sorted(days.items())}
    keys = list(values)
    return {
        key: values[key] - values[keys[index - 1]] if index else 0 for index, key in enumerate(keys)
    }


def fail_twice(values: list[int]) -> list[int]:
    """Fails on its first two attempts in a project folder (a flaky node), then succeeds; the
    attempts are counted in the project's data/out/fail_twice.count (whatever the worker's
    working directory)."""
    from pathlib import Path

    counter = Path(__file__).resolve().parents[2] / "data" / "out" / "fail_twice.count"
    counter.parent.mkdir(parents=True, exist_ok=True)
    attempt = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(attempt))
    if attempt <= 2:
        raise ConnectionError(f"flaky service unavailable (attempt {attempt})")
    return values
