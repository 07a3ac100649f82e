"""Kedro's dataset validators (Kedro 1.7+ `validator:`) as Dagster asset checks in the UI: a
`kedro run` on the project's instance records each validation as an evaluation of the asset's
`kedro_validator` check; `kedro dagster-runner ui` declares those checks, shows the evaluations
(GraphQL, and the asset's checks page in headless Chromium), and executing a check from the UI
validates the dataset's current data again."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import Background, free_port, wait_for_port
from kedro_projects import DEMO_PROJECT, KEDRO_VERSION, RUNNER, copy_project, kedro_runner
from test_ui import _wait_for_code_location, chromium, graphql
from test_ui_launches import _location

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
RUN_STATUS = """
query ($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }
"""


def _project(tmp_path: Path) -> Path:
    project = copy_project(DEMO_PROJECT, tmp_path / "demo_project")
    catalog_path = project / "conf" / "base" / "catalog.yml"
    catalog = yaml.safe_load(catalog_path.read_text())
    catalog["summary"]["validator"] = "demo_project.validators.has_count"
    catalog["doubled"]["validator"] = {
        "class": "demo_project.validators.under_ten", "severity": "warn", "on": ["save"]
    }  # fmt: skip
    catalog_path.write_text(yaml.safe_dump(catalog))
    config = {
        "executors": {"pool": {"multiprocess": {"max_concurrent": 2}}},
        "runner": {"executor": "pool", "instance": "project"},
    }
    (project / "conf" / "base" / "dagster.yml").write_text(yaml.safe_dump(config))
    return project


def _latest(url: str, dataset: str) -> dict:
    checks = graphql(url, CHECKS, {"path": [dataset]})["assetNodeOrError"]
    (check,) = checks["assetChecksOrError"]["checks"]
    return check


def test_validations_show_as_asset_checks_and_a_check_runs_from_the_ui(
    tmp_path: Path, worker_env: dict[str, str]
) -> None:
    project = _project(tmp_path)
    env = {key: value for key, value in worker_env.items() if key != "DAGSTER_HOME"}
    run = kedro_runner(project, tmp_path)("--runner", RUNNER, env=env)
    assert run.returncode == 0, run.output

    port = free_port()
    server = Background(
        [sys.executable, "-m", "kedro", "dagster-runner", "ui", "--port", str(port)],
        project, env, tmp_path / "ui.log",
    )  # fmt: skip
    try:
        wait_for_port(port, 180)
        url = f"http://127.0.0.1:{port}"
        _wait_for_code_location(url)

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
                "assetCheckSelection": [
                    {"assetKey": {"path": ["summary"]}, "name": "kedro_validator"}
                ],
                "assetSelection": [],
            },
            "runConfigData": "{}",
        }
        launched = graphql(url, EXECUTE_CHECKS, {"params": params})["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        run_id = launched["run"]["runId"]
        deadline = time.monotonic() + 180
        status = None
        while time.monotonic() < deadline and status not in {"SUCCESS", "FAILURE"}:
            time.sleep(1)
            status = graphql(url, RUN_STATUS, {"id": run_id})["runOrError"]["status"]
        assert status == "SUCCESS"
        latest = _latest(url, "summary")["executionForLatestMaterialization"]
        assert latest["runId"] == run_id and latest["status"] == "SUCCEEDED"
    finally:
        server.stop()
