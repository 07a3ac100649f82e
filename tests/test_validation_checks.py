"""Kedro's dataset validators (Kedro 1.7+ `validator:`) as Dagster asset checks: each validation
of a persisted dataset is an AssetCheckEvaluation on its asset, failures of `warn` severity
included, and Kedro's own behaviour (raise on `error`, log on `warn`) is unchanged."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro_projects import KEDRO_VERSION

from kedro_dagster_runner import _compat
from kedro_dagster_runner.workers.validation_checks import (
    CHECK_NAME,
    ValidationResult,
    recorded_validations,
)

pytestmark = pytest.mark.skipif(
    KEDRO_VERSION < (1, 7), reason="dataset validators (validator:) need Kedro 1.7"
)


def has_count(summary: dict) -> None:
    if summary.get("count", 0) <= 0:
        raise ValueError(f"summary has no count: {summary}")


def under_ten(values: list[int]) -> None:
    large = [value for value in values if value >= 10]
    if large:
        raise ValueError(f"values of 10 or more: {large}")


def _wrap(count: int) -> dict:
    return {"count": count}


def _catalog() -> DataCatalog:
    return DataCatalog.from_config(
        {
            "good": {"type": "kedro.io.MemoryDataset", "validator": f"{__name__}.has_count"},
            "warned": {
                "type": "kedro.io.MemoryDataset",
                "validator": {"class": f"{__name__}.under_ten", "severity": "warn"},
            },
            "strict": {
                "type": "kedro.io.MemoryDataset",
                "validator": {"class": f"{__name__}.under_ten", "on": ["save"]},
            },
        }
    )


def test_every_validation_is_recorded_with_its_outcome_and_kedro_behaves_as_without() -> None:
    from kedro.validation.exceptions import DataValidationError

    catalog = _catalog()
    with recorded_validations(catalog, {"good", "strict"}, {"good", "warned", "strict"}) as found:
        catalog.save("good", {"count": 3})
        catalog.save("warned", [1, 12])  # warn: Kedro logs and goes on
        assert catalog.load("good") == {"count": 3}
        catalog.save("strict", [1])
        catalog.load("strict")  # validated on save only: no load recorded
        with pytest.raises(DataValidationError):
            catalog.save("strict", [15])  # error: Kedro raises
    assert [(r.dataset, r.mode, r.passed, r.severity) for r in found] == [
        ("good", "save", True, "error"),
        ("warned", "save", False, "warn"),
        ("good", "load", True, "error"),
        ("strict", "save", True, "error"),
        ("strict", "save", False, "error"),
    ]
    assert "values of 10 or more: [12]" in found[1].message
    assert found[0].validator == f"{__name__}.has_count"
    # the catalog is left as it was
    assert "_validate" not in vars(catalog)
    assert catalog.load("good") == {"count": 3}


def test_a_catalog_without_validators_is_not_touched(caplog: pytest.LogCaptureFixture) -> None:
    catalog = DataCatalog({"plain": MemoryDataset()})
    assert _compat.watch_validation(catalog, lambda *args: None) is None
    with recorded_validations(catalog, {"plain"}, {"plain"}) as found:
        catalog.save("plain", 1)
    assert found == [] and "_validate" not in vars(catalog)
    assert logging.getLogger("kedro.io.data_catalog").filters == []


def test_results_travel_in_step_outcomes_as_json() -> None:
    from kedro_dagster_runner.workers.outcome import StepOutcome

    check = ValidationResult("summary", "save", False, "warn", "pkg.check", "too large")
    outcome = StepOutcome("op", 1.0, checks=[check])
    assert StepOutcome.from_json_dict(outcome.to_json_dict()) == outcome


def test_the_code_location_declares_a_check_per_validated_asset_that_validates_again(
    tmp_path: Path,
) -> None:
    import json

    import dagster
    from kedro.pipeline import Pipeline, node

    from kedro_dagster_runner.ui.assets import asset_specs, validator_checks

    (tmp_path / "a.json").write_text(json.dumps([1, 12]))
    (tmp_path / "b.json").write_text(json.dumps({"count": 2}))
    catalog = DataCatalog.from_config(
        {
            "a": {
                "type": "json.JSONDataset",
                "filepath": str(tmp_path / "a.json"),
                "validator": {"class": f"{__name__}.under_ten", "severity": "warn"},
            },
            "b": {
                "type": "json.JSONDataset",
                "filepath": str(tmp_path / "b.json"),
                "validator": f"{__name__}.has_count",
            },
            "in_memory": {"type": "kedro.io.MemoryDataset", "validator": f"{__name__}.under_ten"},
        }
    )
    pipeline = Pipeline(
        [node(len, "a", "in_memory", name="count"), node(_wrap, "in_memory", "b", name="wrap")]
    )

    (checks,) = validator_checks(pipeline, catalog)

    # in-memory datasets are no assets: no check
    assert {key.asset_key.path[0] for key in checks.check_keys} == {"a", "b"}
    assert {key.name for key in checks.check_keys} == {CHECK_NAME}
    result = dagster.materialize(
        [*asset_specs(pipeline, catalog), checks],
        selection=dagster.AssetSelection.all_asset_checks(),
    )
    found = {
        evaluation.asset_key.path[0]: (evaluation.passed, evaluation.severity.value)
        for evaluation in result.get_asset_check_evaluations()
    }
    assert found == {"a": (False, "WARN"), "b": (True, "ERROR")}
    assert validator_checks(pipeline, DataCatalog({"a": MemoryDataset()})) == []


def test_a_warn_failure_is_seen_whatever_the_logging_and_pattern_validators_count() -> None:
    logger = logging.getLogger("kedro.io.data_catalog")
    level = logger.level
    logger.setLevel(logging.ERROR)  # Kedro's warning is not even logged
    try:
        catalog = DataCatalog.from_config(
            {
                "{name}_checked": {
                    "type": "kedro.io.MemoryDataset",
                    "validator": {"class": f"{__name__}.under_ten", "severity": "warn"},
                }
            }
        )
        # the pattern's validator is known to the catalog only once a dataset of it was
        with recorded_validations(catalog, set(), {"a_checked"}) as found:
            catalog.save("a_checked", [12])
    finally:
        logger.setLevel(level)
    assert [(r.dataset, r.mode, r.passed, r.severity) for r in found] == [
        ("a_checked", "save", False, "warn")
    ]
    assert "values of 10 or more: [12]" in found[0].message
    assert catalog.load("a_checked") == [12]  # Kedro went on, as with warn it does
