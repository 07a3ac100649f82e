"""Workers build the project as the driver's session did: its catalog and session classes, its
single-process datasets, ``--params`` of any type, and datasets released as Kedro releases them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kedro.runner import SequentialRunner
from kedro_projects import KEDRO_VERSION, PIPELINES_OPTION, RUNNER, KedroRunner
from test_filters import session_run

from kedro_dagster_runner import DagsterRunner


def test_workers_build_the_projects_data_catalog_class(kedro_demo: KedroRunner) -> None:
    run = kedro_demo("--runner", RUNNER, "--env", "mp", env={"DEMO_CATALOG_CLASS": "1"})

    assert run.returncode == 0, run.output
    catalogs = run.calls("after_catalog_created")
    assert {c["pid"] for c in catalogs} - {run.driver_pid}  # workers built catalogs too
    assert {c["catalog_class"] for c in catalogs} == {"MarkedCatalog"}


@pytest.mark.skipif(KEDRO_VERSION < (1, 4), reason="KedroServiceSession exists since Kedro 1.4")
def test_a_service_session_project_runs_on_workers_with_its_params(
    kedro_demo: KedroRunner, demo_project: Path
) -> None:
    run = kedro_demo(
        "--runner", RUNNER, "--env", "mp", "--to-nodes", "first.sum", "--params", "factor=3",
        env={"DEMO_SERVICE_SESSION": "1"},
    )  # fmt: skip

    assert run.returncode == 0, run.output
    assert {c["pid"] for c in run.calls("before_node_run")} - {run.driver_pid}
    total = json.loads((demo_project / "data/out/first_total.json").read_text())
    assert total == 3 * 31 + 8 * 10  # the workers' context had --params


def _record_releases(project: Path) -> None:
    """Make ``doubled`` (read by four nodes) a single-process dataset that logs releases."""
    (project / "conf/mp/catalog.yml").write_text(
        "doubled:\n"
        "  type: demo_project.custom.ReleaseRecordingDataset\n"
        "  filepath: data/out/doubled.json\n"
    )


def test_single_process_datasets_run_on_workers_and_are_released_as_kedro_does(
    kedro_demo: KedroRunner, demo_project: Path
) -> None:
    _record_releases(demo_project)
    sequential = kedro_demo("--env", "mp")
    run = kedro_demo("--runner", RUNNER, "--env", "mp")

    assert sequential.returncode == 0, sequential.output
    assert run.returncode == 0, run.output  # workers rebuild the catalog: nothing is pickled
    assert {c["pid"] for c in run.calls("before_node_run")} - {run.driver_pid}
    kedros = [c["dataset"] for c in sequential.calls("release")]
    ours = run.calls("release")
    assert [c["dataset"] for c in ours] == kedros == ["doubled.json"]
    assert {c["pid"] for c in ours} == {run.driver_pid}  # the scheduling process, as Kedro


@pytest.mark.parametrize("executor", ["in_process", "multiprocess"])
def test_runtime_params_that_json_cannot_carry(
    demo_project: Path, tmp_path: Path, executor: str
) -> None:
    params = {"factor": 3, "where": Path("/data/in"), "raw": b"\x00\x01"}
    expected, _ = session_run(demo_project, tmp_path / "s.jsonl", SequentialRunner(), params)
    expected_doubled = (demo_project / "data/out/doubled.json").read_text()

    actual, _ = session_run(
        demo_project, tmp_path / "d.jsonl", DagsterRunner(executor=executor), params
    )

    assert actual == expected
    assert (demo_project / "data/out/doubled.json").read_text() == expected_doubled
    assert json.loads(expected_doubled) == [9, 3, 12, 3, 15, 27, 6, 18]


def test_runtime_params_stay_out_of_the_spec(demo_project: Path, tmp_path: Path) -> None:
    from kedro_dagster_runner.workers import store as store_module

    published: list[str] = []
    original = store_module.DirectoryStore.write_spec

    def spy(self: store_module.DirectoryStore, spec_json: str) -> None:
        published.append(spec_json)
        original(self, spec_json)

    store_module.DirectoryStore.write_spec = spy  # type: ignore[method-assign]
    try:
        session_run(
            demo_project, tmp_path / "d.jsonl", DagsterRunner(executor="multiprocess"),
            {"factor": 3, "api_key": "s3cr3t-value"},
        )  # fmt: skip
    finally:
        store_module.DirectoryStore.write_spec = original  # type: ignore[method-assign]

    (spec_json,) = published
    assert "s3cr3t-value" not in spec_json and "api_key" not in spec_json


@pytest.mark.skipif(
    KEDRO_VERSION < (1, 4),
    reason="Kedro scopes parameter validation to the run's pipelines since 1.4",
)
def test_parameters_are_validated_against_the_run_pipelines_only(
    kedro_demo: KedroRunner, demo_project: Path
) -> None:
    # Invalid for the "typed" pipeline only, which the run does not include (Kedro 1.4+ scopes
    # parameter validation to the requested pipelines; workers must too).
    (demo_project / "conf/mp/parameters.yml").write_text("rate:\n  per_second: fast\n")

    sequential = kedro_demo("--env", "mp", PIPELINES_OPTION, "main")
    run = kedro_demo("--runner", RUNNER, "--env", "mp", PIPELINES_OPTION, "main")

    assert sequential.returncode == 0, sequential.output
    assert run.returncode == 0, run.output
    assert {c["pid"] for c in run.calls("before_node_run")} - {run.driver_pid}


@pytest.mark.skipif(KEDRO_VERSION < (1, 7), reason="dataset validators exist since Kedro 1.7")
def test_a_memory_datasets_validator_still_applies_on_workers(
    kedro_demo: KedroRunner, demo_project: Path
) -> None:
    # `first.shifted` is a declared memory dataset read by `first.sum`: workers keep it in the
    # run's store instead, and its validator must keep refusing bad data there.
    (demo_project / "conf/mp/catalog.yml").write_text(
        "first.shifted:\n"
        "  type: MemoryDataset\n"
        "  validator: demo_project.custom.reject_shifted_values\n"
    )
    sequential = kedro_demo("--env", "mp")
    run = kedro_demo("--runner", RUNNER, "--env", "mp")

    assert sequential.returncode != 0 and run.returncode != 0
    assert "above 20" in run.output
    last_line = sequential.output.rstrip().splitlines()[-1]
    assert run.output.rstrip().splitlines()[-1] == last_line  # the same exception, same text
    assert "first.sum" not in run.nodes_run()
    (shift,) = [c for c in run.calls("before_node_run") if c["node"] == "first.shift"]
    assert shift["pid"] != run.driver_pid  # refused on the worker that saved it
