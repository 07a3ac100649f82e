"""Retry policies per node (dagster.yml `retry_policies`): Dagster's RetryPolicy on the node's
op, the node run again after a failed attempt, each retry in the event log and the terminal,
Kedro's node hooks per attempt."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from kedro_projects import PIPELINES_OPTION, RUNNER, KedroRunner, with_retry_policy

from kedro_dagster_runner.config import resolve_config
from kedro_dagster_runner.config.retry_policies import dagster_policy, policy_for
from kedro_dagster_runner.errors import ConfigError
from kedro_dagster_runner.job import build_job
from kedro_dagster_runner.spec import NodeSpec, RunSpec

POLICIES = {
    "by_name": {"max_retries": 5, "nodes": ["fetch"]},
    "flaky": {"max_retries": 3, "delay": 0.5, "backoff": "exponential", "jitter": "plus_minus",
              "tags": ["flaky"]},
}  # fmt: skip


def test_a_node_takes_the_first_policy_that_selects_it() -> None:
    policies = resolve_config({"retry_policies": POLICIES}).retry_policies
    assert policy_for("fetch", ["flaky"], policies)["max_retries"] == 5
    assert policy_for("train", ["flaky"], policies) == {
        "max_retries": 3, "delay": 0.5, "backoff": "exponential", "jitter": "plus_minus"
    }  # fmt: skip
    assert policy_for("train", [], policies) is None
    every = resolve_config({"retry_policies": {"all": {"max_retries": 1}}}).retry_policies
    assert policy_for("anything", [], every) == {
        "max_retries": 1, "delay": None, "backoff": None, "jitter": None
    }  # fmt: skip


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"max_retries": 0}, r"retry_policies\.bad\.max_retries"),
        ({"max_retries": 2, "backoff": "quadratic"}, r"retry_policies\.bad\.backoff"),
        ({"max_retries": 2, "tag": ["x"]}, r"retry_policies\.bad\.tag"),
    ],
)
def test_a_bad_policy_is_refused_naming_its_key(entry: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve_config({"retry_policies": {"bad": entry}})


def test_the_op_carries_dagsters_retry_policy() -> None:
    import dagster

    policy = {"max_retries": 3, "delay": 0.5, "backoff": "exponential", "jitter": "full"}
    spec = RunSpec("run", "job", [NodeSpec("n", "n", [], ["x"], retry_policy=policy)], "in_process")
    (op,) = build_job(spec.to_json()).graph.node_defs
    assert op.retry_policy == dagster_policy(policy)
    assert op.retry_policy == dagster.RetryPolicy(
        max_retries=3, delay=0.5, backoff=dagster.Backoff.EXPONENTIAL, jitter=dagster.Jitter.FULL
    )
    assert spec.retries_nodes


@pytest.mark.parametrize("executor", ["in_process", "multiprocess"])
def test_a_flaky_node_is_retried_until_it_succeeds(
    kedro_demo: KedroRunner, demo_project: Path, executor: str
) -> None:
    with_retry_policy(demo_project, 2, executor)

    run = kedro_demo("--runner", RUNNER, PIPELINES_OPTION, "retried")

    assert run.returncode == 0, run.output
    assert (demo_project / "data" / "out" / "fail_twice.count").read_text() == "3"
    output = " ".join(run.output.split())
    assert "Node fail_twice failed (ConnectionError: flaky service unavailable (attempt 1)); " \
        "retrying (retry 1 of 2)" in output  # fmt: skip
    assert "(retry 2 of 2)" in output
    # Kedro's node hooks per attempt; the pipeline succeeded
    starts = Counter(call["node"] for call in run.calls("before_node_run"))
    assert starts == {"double_partial": 1, "fail_twice": 3, "recovered_total": 1}
    assert [call["node"] for call in run.calls("on_node_error")] == ["fail_twice"] * 2
    assert Counter(c["node"] for c in run.calls("after_node_run"))["fail_twice"] == 1
    assert run.calls("on_pipeline_error") == []
    assert len(run.calls("after_pipeline_run")) == 1
