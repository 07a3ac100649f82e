"""Kedro's dataset validators (Kedro 1.7+ `validator:`) as Dagster asset checks in the UI: a
`kedro run` on the project's instance records each validation as an evaluation of the asset's
`kedro_validator` check; `kedro dagster-runner ui` declares those checks, shows the evaluations
(GraphQL, and the asset's checks page in headless Chromium), and executing a check from the UI
validates the dataset's current data again."""

from __future__ import annotations

from pathlib import Path

import pytest
import test_ui_launches
from kedro_projects import KEDRO_VERSION, RUNNER, kedro_runner, with_validators
from test_ui import chromium, graphql
from test_ui_launches import _location, _wait_for_end

start_ui = test_ui_launches.start_ui  # the fixture: `kedro dagster-runner ui` on the demo

pytestmark = pytest.mark.skipif(
    KEDRO_VERSION < (1, 7), reason="dataset validators (validator:) need Kedro 1.7"
)

CHECKS = """
query ($path: [String!]!) { assetNodeOrError(assetKey: {path: $path}) { ... on AssetNode {
  assetChecksOrError { ... on AssetChecks { checks { name description
    executionForLatestMaterialization { status runId evaluation { severity
      metadataEntries { label ... on TextMetadataEntry { text } } } } } } } } } }
"""
EXECUTE_CHECKS = """
mutation ($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }
"""


DAGSTER_YML = {
    "executors": {"pool": {"multiprocess": {"max_concurrent": 2}}},
    "runner": {"executor": "pool", "instance": "project"},
}


def _latest(url: str, dataset: str) -> dict:
    checks = graphql(url, CHECKS, {"path": [dataset]})["assetNodeOrError"]
    (check,) = checks["assetChecksOrError"]["checks"]
    return check


def test_validations_show_as_asset_checks_and_a_check_runs_from_the_ui(
    start_ui, tmp_path: Path
) -> None:
    project, url, env = start_ui(DAGSTER_YML, prepare=with_validators)
    run = kedro_runner(project, tmp_path)("--runner", RUNNER, env=env)
    assert run.returncode == 0, run.output

    doubled = _latest(url, "doubled")
    assert doubled["name"] == "kedro_validator"
    assert "demo_project.validators.under_ten" in doubled["description"]
    execution = doubled["executionForLatestMaterialization"]
    assert execution["status"] == "FAILED"
    assert execution["evaluation"]["severity"] == "WARN"
    texts = {e["label"]: e.get("text") for e in execution["evaluation"]["metadataEntries"]}
    assert "values of 10 or more: [10, 18, 12]" in texts["message"]
    assert texts["kedro/mode"] == "save"
    summary = _latest(url, "summary")
    assert summary["executionForLatestMaterialization"]["status"] == "SUCCEEDED"

    page = chromium(f"{url}/assets/doubled?view=checks")
    assert "kedro_validator" in page

    # executed from the UI: the check validates the dataset's current data again
    params = {
        "selector": {
            "repositoryLocationName": _location(url),
            "repositoryName": "__repository__",
            "pipelineName": "__ASSET_JOB",
            "assetCheckSelection": [{"assetKey": {"path": ["summary"]}, "name": "kedro_validator"}],
            "assetSelection": [],
        },
        "runConfigData": "{}",
    }
    launched = graphql(url, EXECUTE_CHECKS, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    assert _wait_for_end(url, run_id)["status"] == "SUCCESS"
    latest = _latest(url, "summary")["executionForLatestMaterialization"]
    assert latest["runId"] == run_id and latest["status"] == "SUCCEEDED"
