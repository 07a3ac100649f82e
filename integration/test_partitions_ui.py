"""Partitions in the Dagster UI, on `kedro dagster-runner ui` with a Postgres instance
(dagster-webserver and dagster-daemon): a backfill of three daily keys of the demo project's
`daily` pipeline runs those keys only, through the runner with Kedro's hooks, and the asset's
partitions page in headless Chromium shows them materialized.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import test_ui
from kedro_projects import DEMO_PROJECT, PIPELINES_OPTION, copy_project, hook_calls, kedro_runner
from test_ui import chromium, graphql

ui_server = test_ui.ui_server  # the fixtures: Postgres instance, `kedro dagster-runner ui`
ui_project = test_ui.ui_project

KEYS = ["2024-01-02", "2024-01-03", "2024-01-04"]

BACKFILL = """
mutation ($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message stack }
  }
}
"""
BACKFILL_STATUS = """
query ($id: String!) { partitionBackfillOrError(backfillId: $id) {
  ... on PartitionBackfill { status } } }
"""
BACKFILL_RUNS = """
query ($id: String!) {
  runsOrError(filter: {tags: [{key: "dagster/backfill", value: $id}]}) {
    ... on Runs { results { runId status tags { key value } } }
  }
}
"""
MATERIALIZED = """
{ assetOrError(assetKey: {path: ["daily_delta"]}) { ... on Asset {
    assetMaterializations { partition runId } } }
  assetNodeOrError(assetKey: {path: ["daily_delta"]}) { ... on AssetNode {
    partitionKeys } } }
"""


def _location(url: str) -> str:
    query = "{ workspaceOrError { ... on Workspace { locationEntries { name } } } }"
    return graphql(url, query)["workspaceOrError"]["locationEntries"][0]["name"]


def _backfill(url: str, job: str, keys: list[str]) -> str:
    params = {
        "selector": {
            "partitionSetName": f"{job}_partition_set",
            "repositorySelector": {
                "repositoryLocationName": _location(url),
                "repositoryName": "__repository__",
            },
        },
        "partitionNames": keys,
        "fromFailure": False,
    }
    launched = graphql(url, BACKFILL, {"params": params})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    return launched["backfillId"]


def _wait_for_backfill(url: str, backfill_id: str, runs: int, seconds: float = 300) -> list:
    """The backfill's runs, once the daemon launched ``runs`` of them and they all ended."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = graphql(url, BACKFILL_RUNS, {"id": backfill_id})["runsOrError"]["results"]
        if len(found) >= runs and all(
            run["status"] in {"SUCCESS", "FAILURE", "CANCELED"} for run in found
        ):
            return found
        time.sleep(2)
    status = graphql(url, BACKFILL_STATUS, {"id": backfill_id})
    raise TimeoutError(f"backfill {backfill_id} did not end in {seconds} s: {status}")


def test_a_backfill_of_three_daily_keys_writes_exactly_those_partitions(
    ui_project: tuple,
    tmp_path: Path,
) -> None:
    project, url, env = ui_project

    runs = _wait_for_backfill(url, _backfill(url, "kedro_daily", KEYS), runs=3)

    assert sorted(run["status"] for run in runs) == ["SUCCESS"] * 3, runs
    tags = [{t["key"]: t["value"] for t in run["tags"]} for run in runs]
    assert sorted(tag["dagster/partition"] for tag in tags) == KEYS
    written = sorted(path.name for path in (project / "data" / "out" / "daily_delta").iterdir())
    assert written == [f"{key}.json" for key in KEYS]
    # Each partition as Kedro's SequentialRunner computes it over the whole dataset.
    reference = copy_project(DEMO_PROJECT, tmp_path / "reference")
    sequential = kedro_runner(reference, tmp_path / "reference")(PIPELINES_OPTION, "daily")
    assert sequential.returncode == 0, sequential.output
    for key in KEYS:
        name = f"daily_delta/{key}.json"
        assert (project / "data" / "out" / name).read_bytes() == (
            reference / "data" / "out" / name
        ).read_bytes()
    # Kedro's hooks, as on any launch: pipeline hooks once per run, the node once per run.
    hook_log = Path(env["DEMO_HOOK_LOG"])
    for tag in tags:
        (start,) = [
            call
            for call in hook_calls(hook_log, "before_pipeline_run")
            if call["run_id"] == tag["kedro/run_id"]
        ]
        calls = [call for call in hook_calls(hook_log) if call["pid"] == start["pid"]]
        assert Counter(call["hook"] for call in calls)["after_pipeline_run"] == 1
        assert Counter(c["node"] for c in calls if c["hook"] == "after_node_run") == {
            "daily_deltas": 1
        }

    materialized = graphql(url, MATERIALIZED)
    partitions = {m["partition"] for m in materialized["assetOrError"]["assetMaterializations"]}
    assert partitions == set(KEYS)
    assert materialized["assetNodeOrError"]["partitionKeys"] == [
        "2024-01-01", *KEYS, "2024-01-05"
    ]  # fmt: skip

    images = test_ui.DOCS_IMAGES if os.environ.get("KDR_UPDATE_SCREENSHOTS") == "1" else tmp_path
    page = chromium(f"{url}/assets/daily_delta?view=partitions", images / "asset-partitions.png")
    assert "daily_delta" in page
    assert "2024-01-03" in page, page[-3000:]
