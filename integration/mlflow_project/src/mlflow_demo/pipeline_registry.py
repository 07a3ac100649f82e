"""__default__: a score, then four parts that may run in parallel, then a report and a total.

The file store MLflow keeps under ``mlruns`` is not safe for concurrent writers (a metric file
being created reads as malformed; kedro-mlflow's metric datasets read the whole run before each
save), so metric datasets are saved by nodes that run alone and the parallel nodes log with
``mlflow.log_metric``, which only appends.
"""

from __future__ import annotations

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node

from mlflow_demo import nodes as n


def _part(index: int):
    return update_wrapper(partial(n.part, index=index), n.part)


def register_pipelines() -> dict[str, Pipeline]:
    fit = node(n.fit, ["numbers", "params:alpha"], "score", name="fit")
    names = [f"part_{i}" for i in range(4)]
    main = Pipeline(
        [
            fit,
            *[node(_part(i), ["numbers", "score"], names[i], name=names[i]) for i in range(4)],
            node(n.report, ["score", *names], "report", name="report"),
            node(n.total, names, "total", name="total"),
        ]
    )
    failing = Pipeline([fit, node(n.explode, "score", "never", name="explode")])
    return {"__default__": main, "failing": failing}
