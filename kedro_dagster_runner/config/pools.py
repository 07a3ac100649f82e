"""The ``pools`` section of ``dagster.yml``: Dagster concurrency pools for Kedro nodes.

::

    pools:
      warehouse:                # a Dagster concurrency pool
        tags: [warehouse]       # the nodes carrying any of these Kedro tags...
        nodes: [load_orders]    # ...or named here

A node takes the first pool (in file order) that selects it; its op gets that ``pool``. The
pool's limit is the Dagster instance's (``dagster instance concurrency set warehouse 2``, the
UI's concurrency page, or ``concurrency.pools.default_limit`` in the instance's
``dagster.yaml``), so it holds across every run recorded in one instance: two ``kedro run`` on a
shared instance never have more nodes of a pool running than its limit.
"""

from __future__ import annotations

from collections.abc import Mapping

from kedro_dagster_runner.config.node_selection import NodeSelection, first_selecting


class PoolSettings(NodeSelection):
    """One entry of ``pools``: the nodes it selects (an entry selecting none has no node)."""


def pool_for(node_name: str, node_tags: list[str], pools: Mapping[str, PoolSettings]) -> str | None:
    """The first pool selecting the node, or ``None``."""
    found = first_selecting(pools, node_name, node_tags)
    return found[0] if found is not None else None
