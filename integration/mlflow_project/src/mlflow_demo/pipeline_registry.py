"""__default__: a score, four parts (parallel), a report; failing: the score, then a failure."""

from __future__ import annotations

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node

from mlflow_demo import nodes as n


def _part(index: int):
    return update_wrapper(partial(n.part, index=index), n.part)


def register_pipelines() -> dict[str, Pipeline]:
    parts = [node(_part(i), "numbers", f"part_{i}", name=f"part_{i}") for i in range(4)]
    fit = node(n.fit, ["numbers", "params:alpha"], "score", name="fit")
    main = Pipeline(
        [
            fit,
            *parts,
            node(n.report, ["score", *[f"part_{i}" for i in range(4)]], "report", name="report"),
        ]
    )
    failing = Pipeline([fit, node(n.explode, "score", "never", name="explode")])
    return {"__default__": main, "failing": failing}
