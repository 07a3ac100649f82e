"""The ``retry_policies`` section of ``dagster.yml``: retry flaky nodes, Dagster's way.

::

    retry_policies:
      flaky_api:
        max_retries: 3          # attempts after the first
        delay: 2                # seconds before the first retry (default: none)
        backoff: exponential    # linear | exponential: how the delay grows (default: constant)
        jitter: plus_minus      # full | plus_minus: randomise the delay (default: none)
        tags: [flaky]           # the nodes carrying any of these Kedro tags...
        nodes: [fetch_prices]   # ...or named here; neither: every node

A node takes the first policy (in file order) that selects it. Each policy is a Dagster
``RetryPolicy`` on the node's op: a failed attempt is a ``STEP_UP_FOR_RETRY`` event, the step
starts again after the delay, and only the last failure fails the run. Kedro's node hooks fire
per attempt (``on_node_error`` for each failed one).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from kedro_dagster_runner.config.node_selection import NodeSelection, first_selecting
from kedro_dagster_runner.executors.options import PositiveCount, PositiveNumber

if TYPE_CHECKING:
    import dagster


class RetryPolicySettings(NodeSelection):
    """One entry of ``retry_policies``."""

    max_retries: PositiveCount = Field(description="Attempts after the first.")
    delay: PositiveNumber | None = Field(
        default=None, description="Seconds before the first retry (default: none)."
    )
    backoff: Literal["linear", "exponential"] | None = Field(
        default=None, description="How the delay grows with each attempt (default: constant)."
    )
    jitter: Literal["full", "plus_minus"] | None = Field(
        default=None, description="Randomise the delay (default: none)."
    )

    def selects(self, node_name: str, node_tags: list[str]) -> bool:
        """True when the policy applies to the node (no selector: every node)."""
        return (not self.tags and not self.nodes) or super().selects(node_name, node_tags)

    def as_spec(self) -> dict[str, Any]:
        """The policy as the run spec carries it (JSON)."""
        return self.model_dump(include={"max_retries", "delay", "backoff", "jitter"})


def policy_for(
    node_name: str, node_tags: list[str], policies: Mapping[str, RetryPolicySettings]
) -> dict[str, Any] | None:
    """The spec form of the first policy selecting the node, or ``None``."""
    found = first_selecting(policies, node_name, node_tags)
    return found[1].as_spec() if found is not None else None


def dagster_policy(spec: Mapping[str, Any]) -> dagster.RetryPolicy:
    """The Dagster ``RetryPolicy`` of a node's spec form."""
    import dagster

    return dagster.RetryPolicy(
        max_retries=int(spec["max_retries"]),
        delay=spec.get("delay"),
        backoff=dagster.Backoff(spec["backoff"].upper()) if spec.get("backoff") else None,
        jitter=dagster.Jitter(spec["jitter"].upper()) if spec.get("jitter") else None,
    )
