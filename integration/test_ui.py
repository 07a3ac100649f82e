"""The Dagster UI on a Postgres instance: runs, steps, assets and lineage, re-execution.

`kedro dagster-runner ui` starts dagster-webserver with the project's code location; runs made by
`kedro run` on the same instance are read back through GraphQL and looked at in headless Chromium.
Screenshots are taken on every run; they replace those of docs/images/ only with
KDR_UPDATE_SCREENSHOTS=1 (a headless screenshot may catch the page still loading: look first).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from conftest import Background, free_port, wait_for_port
from kedro_projects import DEMO_PROJECT, RUNNER, copy_project, kedro_runner

DOCS_IMAGES = Path(__file__).parents[1] / "docs" / "images"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def graphql(url: str, query: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(
        f"{url}/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        payload = json.loads(response.read())
    assert "errors" not in payload, payload
    return payload["data"]


def chromium(url: str, screenshot: Path | None = None) -> str:
    """The page's DOM after it rendered (and a screenshot when asked)."""
    browser = shutil.which("chromium")
    if browser is None:
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True)
        browser = "chromium"
    with tempfile.TemporaryDirectory() as profile:
        flags = [*CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=20000"]
        if screenshot is not None:
            subprocess.run(
                [browser, *flags, f"--screenshot={screenshot}", "--window-size=1500,950", url],
                capture_output=True, timeout=180, check=True,
            )  # fmt: skip
        result = subprocess.run(
            [browser, *flags, "--dump-dom", url],
            capture_output=True, text=True, timeout=180, check=True,
        )  # fmt: skip
    return result.stdout


@pytest.fixture
def ui_server(tmp_path: Path, postgres_db: str, worker_env: dict[str, str]) -> Iterator[tuple]:
    """The demo project on a Postgres instance, with `kedro dagster-runner ui` serving it:
    (project, url, env, the command's process)."""
    project = copy_project(DEMO_PROJECT, tmp_path / "demo_project")
    path = project / "conf" / "base" / "dagster.yml"
    config = yaml.safe_load(path.read_text())
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config["runner"]["instance"] = {"postgres": {"db_name": postgres_db, "webserver_url": url}}
    path.write_text(yaml.safe_dump(config))
    env = {**worker_env, "DAGSTER_PG_PASSWORD": "trust-auth"}
    server = Background(
        [sys.executable, "-m", "kedro", "dagster-runner", "ui", "--port", str(port)],
        project, env, tmp_path / "ui.log",
    )  # fmt: skip
    try:
        wait_for_port(port, 180)
        _wait_for_code_location(url)
        yield project, url, env, server
    finally:
        server.stop()


@pytest.fixture
def ui_project(ui_server: tuple) -> tuple:
    """(project, url, env) of :func:`ui_server`."""
    return ui_server[:3]


def _wait_for_code_location(url: str) -> None:
    deadline = time.monotonic() + 180
    query = (
        "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus"
        " locationOrLoadError { __typename ... on PythonError { message } } } } } }"
    )
    while time.monotonic() < deadline:
        entries = graphql(url, query)["workspaceOrError"]["locationEntries"]
        if entries and all(e["loadStatus"] == "LOADED" for e in entries):
            errors = [e["locationOrLoadError"] for e in entries]
            assert all(e["__typename"] == "RepositoryLocation" for e in errors), errors
            return
        time.sleep(1)
    raise TimeoutError("the code location did not load")


RUN_QUERY = """
query ($tag: String!) {
  runsOrError(filter: {tags: [{key: "kedro/run_id", value: $tag}]}) {
    ... on Runs { results { runId status jobName tags { key value }
                            stepStats { stepKey status } } }
  }
}
"""


def _kedro_run(run, *args: str, env: dict[str, str]):
    hook_log = Path(env["DEMO_HOOK_LOG"])
    hook_log.unlink(missing_ok=True)
    return run("--runner", RUNNER, "--env", "mp", *args, env=env, hook_log=hook_log)


def test_runs_assets_and_lineage_show_in_the_ui(ui_project: tuple, tmp_path: Path) -> None:
    project, url, env = ui_project
    result = _kedro_run(kedro_runner(project, tmp_path), env=env)
    assert result.returncode == 0, result.output
    assert f"Dagster run: {url}/runs/" in result.output

    (run,) = graphql(url, RUN_QUERY, {"tag": result.run_id})["runsOrError"]["results"]
    assert run["status"] == "SUCCESS" and run["jobName"] == "kedro_default"
    assert {"key": "kedro/env", "value": "mp"} in run["tags"]
    steps = {s["stepKey"]: s["status"] for s in run["stepStats"]}
    assert len(steps) == 8 and set(steps.values()) == {"SUCCESS"}

    nodes = graphql(url, "{ assetNodes { assetKey { path } dependencyKeys { path } } }")
    lineage = {
        n["assetKey"]["path"][0]: sorted(d["path"][0] for d in n["dependencyKeys"])
        for n in nodes["assetNodes"]
    }
    assert "summary" in lineage, lineage
    assert lineage["summary"] == ["doubled", "first__total", "second__total"]
    assert lineage["first__total"] == ["doubled"]  # through the in-memory first.shifted
    materialization = graphql(
        url,
        '{ assetOrError(assetKey: {path: ["summary"]}) { ... on Asset {'
        " assetMaterializations(limit: 1) { runId } } } }",
    )["assetOrError"]["assetMaterializations"]
    assert materialization == [{"runId": run["runId"]}]

    images = DOCS_IMAGES if os.environ.get("KDR_UPDATE_SCREENSHOTS") == "1" else tmp_path
    images.mkdir(parents=True, exist_ok=True)
    run_page = chromium(f"{url}/runs/{run['runId']}", images / "run-page.png")
    assert "make_report" in run_page and "summarise" in run_page
    lineage_page = chromium(f"{url}/assets/summary?view=lineage", images / "asset-lineage.png")
    assert "first__total" in lineage_page and "doubled" in lineage_page


REEXECUTE = """
mutation ($params: ExecutionParams!) {
  launchPipelineReexecution(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
  }
}
"""


def test_failed_run_is_reexecuted_from_the_failure_through_the_ui(
    ui_project: tuple, tmp_path: Path
) -> None:
    project, url, env = ui_project
    failed = _kedro_run(kedro_runner(project, tmp_path), "--pipelines", "flaky", env=env)
    assert failed.returncode != 0 and "flaky failed" in failed.output
    (parent,) = graphql(url, RUN_QUERY, {"tag": failed.run_id})["runsOrError"]["results"]
    assert parent["status"] == "FAILURE"
    (project / "data" / "out" / "flaky.ok").touch()

    location = graphql(
        url, "{ workspaceOrError { ... on Workspace { locationEntries { name } } } }"
    )["workspaceOrError"]["locationEntries"][0]["name"]
    parent_config = graphql(  # the UI re-executes with the parent run's run config
        url,
        "query ($id: ID!) { runOrError(runId: $id) { ... on Run { runConfigYaml } } }",
        {"id": parent["runId"]},
    )["runOrError"]["runConfigYaml"]
    params = {
        "selector": {
            "repositoryLocationName": location,
            "repositoryName": "__repository__",
            "pipelineName": "kedro_flaky",
        },
        "runConfigData": parent_config,
        "stepKeys": ["flaky", "make_report"],
        "executionMetadata": {
            "parentRunId": parent["runId"],
            "rootRunId": parent["runId"],
            "tags": [{"key": "dagster/is_resume_retry", "value": "true"}],
        },
    }
    launched = graphql(url, REEXECUTE, {"params": params})["launchPipelineReexecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]

    status_query = "query ($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
    deadline = time.monotonic() + 240
    status = "STARTING"
    while status not in {"SUCCESS", "FAILURE", "CANCELED"} and time.monotonic() < deadline:
        time.sleep(2)
        status = graphql(url, status_query, {"id": run_id})["runOrError"]["status"]
    assert status == "SUCCESS"
    assert json.loads((project / "data/out/summary.json").read_text()) == {"count": 8, "max": 18}
    assert len(list((project / "data/out/report.pkl").iterdir())) == 1  # a fresh save version


def _descendants(pid: int) -> set[int]:
    """The live descendants of ``pid`` (children first found through ps, recursively)."""
    found: set[int] = set()
    parents = [pid]
    while parents:
        result = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", ",".join(map(str, parents))],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        parents = [int(line) for line in result.stdout.split()]
        found.update(parents)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_sigterm_stops_the_webserver_and_code_server_and_removes_the_ui_home(
    ui_server: tuple,
) -> None:
    import re
    import signal
    import socket

    _, url, _, server = ui_server
    home = re.search(r"\(instance (\S+), Ctrl-C to stop\)", server.output()).group(1)
    children = _descendants(server.process.pid)
    assert len(children) >= 2 and Path(home).is_dir()  # dagster-webserver and its code server

    server.process.send_signal(signal.SIGTERM)  # to the command alone, as a service manager does
    server.process.wait(timeout=60)

    deadline = time.monotonic() + 20
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert [pid for pid in children if _alive(pid)] == []
    assert not Path(home).exists()
    port = int(url.rsplit(":", 1)[1])
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # nothing serves the UI any more
