from __future__ import annotations

from kedro.pipeline import Pipeline, node

from demo_project import nodes as n


def _stats(namespace: str) -> Pipeline:
    return Pipeline(
        [
            node(n.add_offset, ["doubled", "params:stats"], "shifted", name="shift"),
            node(n.total, "shifted", "total", name="sum", tags=["stats"]),
        ],
        namespace=namespace,
        inputs={"doubled"},
        parameters={"params:stats"},
    )


def register_pipelines() -> dict[str, Pipeline]:
    main = Pipeline(
        [
            node(n.double, ["numbers", "params:factor"], "doubled", name="double", tags=["prep"]),
            node(
                n.summarise,
                ["doubled", "first.total", "second.total"],
                "summary",
                name="summarise",
            ),
            node(n.make_report, "summary", "report", name="make_report", tags=["report"]),
            node(n.spread, "doubled", "spread", name="spread"),
        ]
    )
    main = main + _stats("first") + _stats("second")
    failing = Pipeline(
        [
            node(n.double, ["numbers", "params:factor"], "partial", name="double_partial"),
            node(n.explode, "partial", "exploded", name="explode"),
            node(n.total, "exploded", "never", name="after_explode"),
        ]
    )
    unpicklable = Pipeline(
        [
            node(n.double, ["numbers", "params:factor"], "doubled", name="double"),
            node(n.make_lock, "doubled", "lock", name="make_lock"),
            node(n.use_lock, "lock", "used", name="use_lock"),
        ]
    )
    flaky = Pipeline(
        [
            node(n.double, ["numbers", "params:factor"], "partial", name="double_partial"),
            node(n.flaky, "partial", "summary", name="flaky"),
            node(n.make_report, "summary", "report", name="make_report"),
        ]
    )
    dying = Pipeline(
        [
            node(n.double, ["numbers", "params:factor"], "partial", name="double_partial"),
            node(n.die, "partial", "dead", name="die"),
        ]
    )
    lock_input = Pipeline([node(n.use_lock, "lock_input", "used", name="use_lock_input")])
    waiting = Pipeline([node(n.wait_for_release, "numbers", "released", name="wait_for_release")])
    held = Pipeline(
        [
            node(n.hold, ["numbers", "params:release"], f"held_{name}", name=f"hold_{name}")
            for name in ("a", "b", "c")
        ]
    )
    typed = Pipeline([node(n.use_rate, ["numbers", "params:rate"], "rated", name="use_rate")])
    partitioned = Pipeline(
        [
            node(
                n.scale_partitions,
                ["readings", "params:factor"],
                "scaled_readings",
                name="scale_partitions",
            ),
            node(
                n.shift_partitions,
                "scaled_readings",
                ["shifted_readings", "shifted_done"],
                name="shift_partitions",
            ),
            node(n.combine_partitions, "shifted_readings", "combined", name="combine"),
            node(n.after_combined, ["combined", "shifted_done"], "announced", name="announce"),
        ]
    )
    daily = Pipeline([node(n.daily_deltas, "daily", "daily_delta", name="daily_deltas")])
    retried = Pipeline(
        [
            node(n.double, ["numbers", "params:factor"], "partial", name="double_partial"),
            node(n.fail_twice, "partial", "recovered", name="fail_twice", tags=["flaky"]),
            node(n.total, "recovered", "recovered_total", name="recovered_total"),
        ]
    )
    return {
        "__default__": main,
        "partitioned": partitioned,
        "daily": daily,
        "retried": retried,
        "failing": failing,
        "unpicklable": unpicklable,
        "lock_input": lock_input,
        "flaky": flaky,
        "waiting": waiting,
        "dying": dying,
        "typed": typed,
        "held": held,
        "main": main,
    }
