"""Persisted datasets show up as Dagster assets: materializations with cheap metadata."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro_projects import needs_runner_params

from kedro_dagster_runner import DagsterRunner


@pytest.mark.parametrize("executor", ["in_process", "pool"])
def test_persisted_datasets_are_materialized_with_metadata(
    demo_project: Path, dagster_home: Path, executor: str
) -> None:
    from dagster import DagsterInstance

    bootstrap_project(demo_project)
    with KedroSession.create(project_path=demo_project) as session:
        session.run(runner=DagsterRunner(executor=executor, instance="dagster_home"))
        run_id = session.store["session_id"]

    with DagsterInstance.get() as instance:
        events = {
            key.path[0]: instance.get_latest_materialization_event(key)
            for key in instance.get_asset_keys()
        }
    materialized = {name: event for name, event in events.items() if event is not None}
    assert "numbers" in events  # an input: observed, never materialized
    # persisted outputs of the demo project; memory datasets (first.shifted, spread) are not assets
    assert set(materialized) == {"doubled", "first__total", "second__total", "summary", "report"}
    report = materialized["report"].asset_materialization.metadata
    assert report["version"].value == run_id
    assert report["dataset_type"].value.endswith("PickleDataset")
    assert report["filepath"].value.endswith(f"data/out/report.pkl/{run_id}/report.pkl")
    summary = materialized["summary"].asset_materialization.metadata
    assert summary["kedro/dataset"].value == "summary"
    assert json.loads((demo_project / "data/out/summary.json").read_text())["count"] == 8


@needs_runner_params
@pytest.mark.parametrize(
    ("executor", "dagster_logs"),
    [
        ("in_process", "info"),
        ("dagster_in_process", "info"),
        ("pool", "off"),
        ("pool", "info"),
        ("dagster_multiprocess", "info"),
    ],
)
def test_node_logs_reach_the_event_log_and_the_terminal_once(
    kedro_demo, dagster_home: Path, executor: str, dagster_logs: str
) -> None:
    from dagster import DagsterInstance
    from kedro_projects import RUNNER

    run = kedro_demo(
        "--runner", RUNNER, "--env", "mp", "--to-nodes", "spread",  # spread logs; 2 nodes
        "--runner-params",
        f"executor={executor},instance=dagster_home,dagster_logs={dagster_logs}",
    )  # fmt: skip

    assert run.returncode == 0, run.output
    assert run.output.count("spread of 8 values") == 1
    with DagsterInstance.get() as instance:
        (dagster_run,) = instance.get_runs()
        messages = [entry.user_message for entry in instance.all_logs(dagster_run.run_id)]
    assert messages.count("spread of 8 values") == 1


def test_the_shape_of_a_lazy_frame_is_not_computed_when_it_is_saved() -> None:
    """A dask frame's row count is lazy: the metadata skips it instead of running the graph."""
    import dask
    import dask.dataframe as dd
    import pandas as pd

    from kedro_dagster_runner.workers import dataset_metadata

    computed: list[int] = []

    @dask.delayed
    def load_part() -> pd.DataFrame:
        computed.append(1)
        return pd.DataFrame({"a": [1, 2, 3]})

    lazy = dd.from_delayed([load_part()], meta=pd.DataFrame({"a": pd.Series([], dtype="int64")}))
    dataset_metadata.remember_saved_shape("lazy", lazy)
    dataset_metadata.remember_saved_shape("eager", pd.DataFrame({"a": [1, 2], "b": [3, 4]}))

    assert computed == []
    materialized, _ = dataset_metadata.node_asset_metadata(
        _catalog_with("lazy", "eager"), [], ["lazy", "eager"], {"eager"}
    )
    assert materialized["eager"]["rows"] == 2 and materialized["eager"]["columns"] == 2
    assert "lazy" not in dataset_metadata._SAVED_SHAPES  # forgotten with the node's outputs


def _catalog_with(*names: str):
    from kedro.io import DataCatalog, MemoryDataset

    return DataCatalog({name: MemoryDataset() for name in names})
