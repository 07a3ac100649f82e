"""Benchmark child: time ``kedro_dagster_runner.job.build_job`` for a chain of N nodes.

Usage: ``python -m benchlib.child_build --nodes 1000 --result FILE``

The run spec is built directly (no Kedro project): node ``n_i`` reads ``d_{i-1}`` and writes
``d_i``. Imports (dagster, the package) are timed separately; ``build_job`` is called three times
with distinct run ids (its cache is keyed by the spec JSON, so each call builds a new job).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from benchlib.measure import write_result


def chain_spec(nodes: int, run_id: str, executor_kind: str = "in_process") -> Any:
    """A ``RunSpec`` of ``nodes`` chained nodes."""
    from kedro_dagster_runner.spec import NodeSpec, RunSpec

    specs = [
        NodeSpec(
            name=f"n_{i}",
            op_name=f"n_{i}",
            inputs=[f"d_{i - 1}"] if i else [],
            outputs=[f"d_{i}"],
        )
        for i in range(nodes)
    ]
    return RunSpec(
        run_id=run_id, job_name="kedro___default__", nodes=specs, executor_kind=executor_kind
    )


def main() -> None:
    """Time the imports and three builds; write the result file."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--result", required=True)
    args = parser.parse_args()

    started = time.perf_counter()
    import dagster  # noqa: F401

    from kedro_dagster_runner.job import build_job

    imports = time.perf_counter() - started
    builds = []
    for attempt in range(3):
        spec_json = chain_spec(args.nodes, f"bench-{attempt}").to_json()
        started = time.perf_counter()
        job = build_job(spec_json)
        builds.append(time.perf_counter() - started)
    write_result(
        args.result,
        {
            "nodes": args.nodes,
            "ops": len(job.nodes),
            "import_s": imports,
            "build_s": builds,
            "check": "ok" if len(job.nodes) == args.nodes else "wrong op count",
        },
    )


if __name__ == "__main__":
    main()
