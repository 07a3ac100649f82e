"""Partitions in the Dagster UI, on `kedro dagster-runner ui` with a Postgres instance
(dagster-webserver and dagster-daemon): a backfill of three daily keys of the demo project's
`daily` pipeline runs those keys only, through the runner with Kedro's hooks, and the asset's
partitions page in headless Chromium shows them materialized.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path

import pytest
import test_ui
from kedro_projects import DEMO_PROJECT, PIPELINES_OPTION, copy_project, hook_calls, kedro_runner
from test_ui import chromium, graphql
from test_ui_launches import LAUNCH, _location, _wait_for_end

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


def _launch_with(url: str, job: str, run_config: dict, tags: dict[str, str]) -> dict:
    params = {
        "selector": {
            "repositoryLocationName": _location(url),
            "repositoryName": "__repository__",
            "pipelineName": job,
        },
        "runConfigData": run_config,
        "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
    }
    return graphql(url, LAUNCH, {"params": params})["launchRun"]


def test_a_launchpad_run_of_one_key_takes_typed_kedro_parameters(ui_project: tuple) -> None:
    """The static-keyed job launched for `north` with `factor: 3` in the launchpad's
    `kedro_params` config: that partition only, computed with the changed parameter; a
    value of the wrong type is refused by Dagster's config check before any run."""
    project, url, _ = ui_project
    config = {"resources": {"kedro_params": {"config": {"factor": 3}}}}

    launched = _launch_with(url, "kedro_partitioned", config, {"dagster/partition": "north"})

    assert launched["__typename"] == "LaunchRunSuccess", launched
    run = _wait_for_end(url, launched["run"]["runId"])
    assert run["status"] == "SUCCESS", run
    out = project / "data" / "out"
    assert sorted(p.name for p in (out / "scaled_readings").iterdir()) == ["north.json"]
    assert json.loads((out / "scaled_readings" / "north.json").read_text()) == [3, 6, 9]
    assert json.loads((out / "shifted_readings" / "north.json").read_text()) == [6, 9, 12]

    wrong = {"resources": {"kedro_params": {"config": {"factor": "three"}}}}
    refused = _launch_with(url, "kedro_partitioned", wrong, {"dagster/partition": "north"})
    assert refused["__typename"] == "RunConfigValidationInvalid", refused
    assert "factor" in json.dumps(refused["errors"])


def test_a_daily_job_gets_a_schedule_per_window_and_a_static_one_is_refused(
    tmp_path: Path,
) -> None:
    """dagster.yml jobs on the partitioned pipelines: a daily job's schedule tick runs the
    window that just ended; a schedule on the static-keyed job is refused, naming it."""
    import datetime

    import dagster
    import yaml

    from kedro_dagster_runner.errors import ConfigError
    from kedro_dagster_runner.ui.code_location import _load, build_definitions

    project = copy_project(DEMO_PROJECT, tmp_path / "demo_project")
    dagster_yml = project / "conf" / "base" / "dagster.yml"
    config = yaml.safe_load(dagster_yml.read_text())
    nightly = {"cron_schedule": "0 1 * * *", "execution_timezone": "UTC"}
    config["jobs"] = {"deltas": {"pipeline": {"pipeline_name": "daily"}, "schedule": nightly}}
    dagster_yml.write_text(yaml.safe_dump(config))

    definitions = build_definitions(str(project))
    schedule = definitions.resolve_schedule_def("deltas__schedule")
    tick = datetime.datetime(2024, 1, 4, 1, 0, tzinfo=datetime.timezone.utc)
    context = dagster.build_schedule_context(
        scheduled_execution_time=tick, repository_def=definitions.get_repository_def()
    )
    (request,) = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == "2024-01-03"

    config["jobs"] = {
        "regions": {"pipeline": {"pipeline_name": "partitioned"}, "schedule": nightly}
    }
    dagster_yml.write_text(yaml.safe_dump(config))
    _load.cache_clear()
    with pytest.raises(ConfigError, match=r"jobs\.regions\.schedule: the job is partitioned"):
        build_definitions(str(project))


def test_a_pipeline_that_cannot_fan_out_leaves_the_rest_of_the_code_location_loading(
    tmp_path: Path,
) -> None:
    """`shifted_done` undeclared (a MemoryDataset): `shift_partitions` cannot fan out. Its job
    runs whole-dataset nodes, with a warning; every other job, the daily one too, still loads."""
    import yaml

    from kedro_dagster_runner.ui.code_location import build_definitions

    project = copy_project(DEMO_PROJECT, tmp_path / "demo_project")
    catalog_path = project / "conf" / "base" / "catalog.yml"
    catalog = yaml.safe_load(catalog_path.read_text())
    del catalog["shifted_done"]
    catalog_path.write_text(yaml.safe_dump(catalog))

    definitions = build_definitions(str(project))

    assert definitions.resolve_job_def("kedro_partitioned").partitions_def is None
    assert definitions.resolve_job_def("kedro_daily").partitions_def is not None
