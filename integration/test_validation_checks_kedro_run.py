"""Kedro's dataset validators as Dagster asset checks through `kedro run` (in process and on
multiprocess): the instance holds an AssetCheckEvaluation per validation of a persisted dataset,
a warn failure included, and a failing error validator fails the run with Kedro's error and its
check. (No service is needed; these end-to-end runs live here to keep tests/ fast.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kedro_projects import KEDRO_VERSION, PIPELINES_OPTION, RUNNER, KedroRunner, with_validators

from kedro_dagster_runner.workers.validation_checks import CHECK_NAME

pytestmark = pytest.mark.skipif(
    KEDRO_VERSION < (1, 7), reason="dataset validators (validator:) need Kedro 1.7"
)


def _evaluations(home: Path) -> list[tuple[str, str, bool, str, str]]:
    import dagster

    instance = dagster.DagsterInstance.from_config(str(home))
    try:
        check_evaluation = dagster.DagsterEventType.ASSET_CHECK_EVALUATION
        records = [
            record
            for run in instance.get_run_records()
            for record in instance.get_records_for_run(
                run.dagster_run.run_id, of_type=check_evaluation
            ).records
        ]
        found = []
        for record in sorted(records, key=lambda r: r.storage_id):
            evaluation = record.event_log_entry.dagster_event.asset_check_evaluation_data
            found.append(
                (
                    evaluation.asset_key.to_user_string(),
                    evaluation.check_name,
                    evaluation.passed,
                    evaluation.severity.value,
                    evaluation.metadata["kedro/mode"].value,
                )
            )
            if not evaluation.passed:  # the validator's own message
                assert "values of 10 or more" in evaluation.metadata["message"].value
        return found
    finally:
        instance.dispose()


@pytest.mark.parametrize("executor", ["serial", "pool"])
def test_validations_are_asset_check_evaluations_of_the_run(
    kedro_demo: KedroRunner, demo_project: Path, dagster_home: Path, executor: str
) -> None:
    with_validators(demo_project)
    path = demo_project / "conf" / "base" / "dagster.yml"
    config = yaml.safe_load(path.read_text())
    config["runner"] = {"executor": executor, "instance": "dagster_home"}
    path.write_text(yaml.safe_dump(config))

    run = kedro_demo("--runner", RUNNER, env={"DAGSTER_HOME": str(dagster_home)})

    assert run.returncode == 0, run.output
    evaluations = _evaluations(dagster_home)
    assert sorted(evaluations) == sorted(
        [
            ("doubled", CHECK_NAME, False, "WARN", "save"),  # 10, 18 and 12: the warning
            ("summary", CHECK_NAME, True, "ERROR", "save"),
            ("summary", CHECK_NAME, True, "ERROR", "load"),  # make_report reads it
        ]
    )
    assert run.calls("on_pipeline_error") == []  # Kedro only logs a warn failure


def test_a_failing_error_validator_fails_the_node_and_its_check(
    kedro_demo: KedroRunner, demo_project: Path, dagster_home: Path
) -> None:
    path = demo_project / "conf" / "base" / "catalog.yml"
    catalog = yaml.safe_load(path.read_text())
    catalog["partial"]["validator"] = "demo_project.validators.under_ten"
    path.write_text(yaml.safe_dump(catalog))
    config_path = demo_project / "conf" / "base" / "dagster.yml"
    config = yaml.safe_load(config_path.read_text())
    config["runner"] = {"executor": "pool", "instance": "dagster_home"}
    config_path.write_text(yaml.safe_dump(config))

    run = kedro_demo(
        "--runner", RUNNER, PIPELINES_OPTION, "failing", env={"DAGSTER_HOME": str(dagster_home)}
    )

    assert run.returncode != 0
    # as under Kedro's runners: the save fails after after_node_run, which on_node_error does
    # not see; the run ends with Kedro's DataValidationError
    (pipeline_error,) = run.calls("on_pipeline_error")
    assert pipeline_error["error"] == "DataValidationError"
    assert run.calls("on_node_error") == []
    assert _evaluations(dagster_home) == [("partial", CHECK_NAME, False, "ERROR", "save")]
