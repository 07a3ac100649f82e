"""Differential tests: generated pipelines under Kedro's runners and under DagsterRunner.

The contract (docs: "Kedro's runners, exactly"): a project cannot tell ``DagsterRunner`` from
``SequentialRunner`` (in-process executors) or ``ParallelRunner`` (multi-process executors).
Each test generates pipelines from seeds (:mod:`pipeline_generator`), runs them under Kedro's
runner and under DagsterRunner, and compares everything observable: the free outputs returned by
``runner.run``, the bytes persisted (version folders made generic), the hook calls of each node
in order (dataset hooks, node hooks, file loads and saves, confirms, releases), which nodes ran,
``release()`` / ``confirm()`` calls, the process each call came from, and on failure the
exception reaching the caller and the "resume with --from-nodes" hint the runner logs.

Under ``ParallelRunner`` which nodes run after a failure depends on timing, so multi-process runs
are held to Kedro's rules instead of equality: a node runs only after all its upstream nodes
succeeded; nothing downstream of the failing node runs; after the failure only nodes that were
already ready start (no node starts whose upstream node itself started after the failure).

Reproduce one seed: ``KDR_DIFF_SEED=17 python -m pytest tests/test_differential.py`` runs every
test on seed 17 only; ``python tests/pipeline_generator.py 17`` prints the pipeline.
``KDR_DIFF_SEEDS=500`` runs 500 seeds in each in-process test instead of the default.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pipeline_generator as gen
import pytest
import yaml
from kedro.framework.hooks.manager import _create_hook_manager
from kedro.framework.project import settings
from kedro.runner import ParallelRunner, SequentialRunner
from kedro_projects import KEDRO_VERSION

from kedro_dagster_runner import DagsterRunner

pytestmark = pytest.mark.filterwarnings("ignore")

_ONE_SEED = os.environ.get("KDR_DIFF_SEED")
_COUNT = int(os.environ.get("KDR_DIFF_SEEDS", "24"))


def _seeds(default: list[int]) -> list[int]:
    return [int(_ONE_SEED)] if _ONE_SEED else default


IN_PROCESS_SEEDS = _seeds(list(range(_COUNT)))
MULTIPROCESS_MAX_NODES = 10
KEDRO_RUN_MAX_NODES = 8


def _independent_of_failure(gp: gen.GeneratedPipeline) -> int:
    """How many nodes are neither upstream nor downstream of the failing node."""
    if gp.failing is None:
        return 0
    related = gp.downstream_of(gp.failing) | {gp.failing}
    related |= {name for name in gp.upstream() if gp.failing in gp.downstream_of(name)}
    return len(gp.nodes) - len(related)


def _pick(start: int, max_nodes: int, failing: int, succeeding: int) -> list[int]:
    """Seeds from ``start`` on: ``failing`` ones whose failure leaves other nodes runnable (one
    with a generator failing mid-stream when there is one), then ``succeeding`` ones of 4+
    nodes. Deterministic: the generator is seeded."""
    fails: list[int] = []
    oks: list[int] = []
    mid_stream = None
    for seed in range(start, start + 500):
        gp = gen.generate(seed, max_nodes=max_nodes)
        if gp.failing is not None and _independent_of_failure(gp) >= 2:
            if mid_stream is None and "chunk" in (gp.failure or "") and "chunk 0" not in gp.failure:
                mid_stream = seed
            elif len(fails) < failing - 1:
                fails.append(seed)
        elif gp.failing is None and len(gp.nodes) >= 4 and len(oks) < succeeding:
            oks.append(seed)
        if len(fails) >= failing - 1 and len(oks) >= succeeding and mid_stream is not None:
            break
    chosen = [*fails, mid_stream] if mid_stream is not None else fails
    return [*chosen[:failing], *oks]


MULTIPROCESS_SEEDS = _seeds(_pick(1000, MULTIPROCESS_MAX_NODES, failing=3, succeeding=3))
KEDRO_RUN_SEEDS = _seeds(_pick(2000, KEDRO_RUN_MAX_NODES, failing=1, succeeding=1))

RESUME_MARKERS = ("--from-nodes", "No nodes ran")


# -------------------------------------------------------------------------------------------
# Running a generated pipeline from plain Python


@dataclass
class Run:
    """What one runner did with one generated pipeline."""

    label: str
    outputs: dict[str, Any] | None
    error: BaseException | None
    files: dict[str, list[bytes]]
    events: list[dict[str, Any]]
    observation: gen.Observation
    hints: list[str]
    driver_pid: int

    def error_text(self) -> str:
        if self.error is None:
            return "no exception"
        return f"{type(self.error).__module__}.{type(self.error).__qualname__}: {self.error}"


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _settings_hooks(hooks: tuple[Any, ...]) -> Iterator[None]:
    """``settings.HOOKS`` for the duration: the hooks Kedro registers in ParallelRunner's worker
    processes (as a project's settings.py would)."""
    previous = settings.HOOKS
    settings.set("HOOKS", hooks)
    try:
        yield
    finally:
        settings.set("HOOKS", previous)


def run_plain(
    gp: gen.GeneratedPipeline,
    base: Path,
    label: str,
    runner: Any,
    *,
    shared_memory: bool = False,
    only_nodes: list[str] | None = None,
    hooks_in_settings: bool = False,
) -> Run:
    """Run ``gp`` (or ``only_nodes`` of it) with ``runner.run(pipeline, catalog, hook_manager)``
    in a fresh folder."""
    root = base / label
    root.mkdir(parents=True)
    log = base / f"{label}.events.jsonl"
    gen.prepare_inputs(gp, root)
    catalog = gen.build_catalog(gp, root, str(log), shared_memory=shared_memory)
    hooks = gen.RecordingHooks(str(log))
    hook_manager = _create_hook_manager()
    hook_manager.register(hooks)
    pipeline = gen.build_pipeline(gp, str(log))
    if only_nodes is not None:
        pipeline = pipeline.only_nodes(*only_nodes)
    collect = _Collect()
    logger = runner._logger
    logger.addHandler(collect)
    outputs = error = None
    run_events = None
    try:
        with _settings_hooks((hooks,) if hooks_in_settings else ()):
            result = runner.run(pipeline, catalog, hook_manager)
            run_events = len(gen.read_events(log))  # the loads below are the test's, not the run's
            outputs = {name: dataset.load() for name, dataset in result.items()}
    except Exception as exc:
        error = exc
    finally:
        logger.removeHandler(collect)
    events = gen.read_events(log)[:run_events]
    return Run(
        label=label,
        outputs=outputs,
        error=error,
        files=gen.persisted_files(root),
        events=events,
        observation=gen.observe(events, gp.failing),
        hints=[m for m in collect.messages if any(k in m for k in RESUME_MARKERS)],
        driver_pid=os.getpid(),
    )


# -------------------------------------------------------------------------------------------
# Comparisons: each returns readable disagreements (empty when the runs agree)


def _short(value: Any, limit: int = 400) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _list_diff(name: str, expected: list[str], got: list[str]) -> str:
    for index, (a, b) in enumerate(zip(expected, got, strict=False)):
        if a != b:
            return (
                f"{name}: differ at step {index}: Kedro {a!r}, DagsterRunner {b!r}\n"
                f"      Kedro:         {_short(expected)}\n      DagsterRunner: {_short(got)}"
            )
    return (
        f"{name}: Kedro has {len(expected)} steps, DagsterRunner {len(got)}\n"
        f"      Kedro:         {_short(expected)}\n      DagsterRunner: {_short(got)}"
    )


def compare_errors(ref: Run, got: Run) -> list[str]:
    if ref.error is None and got.error is None:
        return []
    if (
        ref.error is not None
        and got.error is not None
        and type(ref.error) is type(got.error)
        and str(ref.error) == str(got.error)
    ):
        return []
    return [f"exception reaching the caller: Kedro {ref.error_text()}; got {got.error_text()}"]


def compare_outputs(ref: Run, got: Run) -> list[str]:
    if ref.outputs is None or got.outputs is None:
        return []  # a failed run returns nothing (compare_errors reports a missing failure)
    if ref.outputs == got.outputs:
        return []
    keys = sorted(set(ref.outputs) | set(got.outputs))
    differing = [
        k for k in keys if ref.outputs.get(k, "<absent>") != got.outputs.get(k, "<absent>")
    ]
    return [
        f"free outputs differ for {differing}: "
        f"Kedro {_short({k: ref.outputs.get(k, '<absent>') for k in differing})}, "
        f"got {_short({k: got.outputs.get(k, '<absent>') for k in differing})}"
    ]


def compare_files(expected: dict[str, list[bytes]], got: dict[str, list[bytes]]) -> list[str]:
    problems = []
    missing = sorted(set(expected) - set(got))
    extra = sorted(set(got) - set(expected))
    if missing:
        problems.append(f"persisted files missing: {missing}")
    if extra:
        problems.append(f"persisted files not written by Kedro: {extra}")
    for key in sorted(set(expected) & set(got)):
        if expected[key] != got[key]:
            problems.append(
                f"persisted bytes of {key} differ: Kedro {_short(expected[key], 200)}, "
                f"got {_short(got[key], 200)}"
            )
    return problems


def compare_per_node(
    expected: dict[str, list[str]], got: dict[str, list[str]], nodes: set[str]
) -> list[str]:
    problems = []
    for name in sorted(nodes):
        if name in expected and name in got and expected[name] != got[name]:
            problems.append(_list_diff(f"hook calls of node {name!r}", expected[name], got[name]))
    return problems


def check_topological(gp: gen.GeneratedPipeline, run: Run) -> list[str]:
    """Every node that ran started after all its upstream nodes had completed."""
    obs = run.observation
    upstream = gp.upstream()
    problems = []
    for name in dict.fromkeys(obs.order):
        if name not in upstream:
            problems.append(f"an unknown node ran: {name!r}")
            continue
        for parent in sorted(upstream[name]):
            if parent not in obs.completed:
                problems.append(f"node {name!r} ran although upstream {parent!r} did not succeed")
            elif obs.ended[parent] > obs.started[name]:
                problems.append(f"node {name!r} started before upstream {parent!r} had finished")
    counts = Counter(obs.order)
    problems += [f"node {name!r} ran {count} times" for name, count in counts.items() if count > 1]
    return problems


def check_stops_at_failure(
    gp: gen.GeneratedPipeline, run: Run, one_at_a_time: bool = False
) -> list[str]:
    """The failing node's downstream never runs; after the failure nothing new starts but nodes
    that were already ready (none whose upstream node itself started after the failure); when
    nodes run one at a time, nothing starts after the failure at all (SequentialRunner)."""
    if gp.failing is None:
        return []
    obs = run.observation
    problems = []
    if gp.failing not in obs.per_node:
        return [f"the failing node {gp.failing!r} never ran"]
    ran_downstream = sorted(gp.downstream_of(gp.failing) & set(obs.per_node))
    if ran_downstream:
        problems.append(f"nodes downstream of the failing node ran: {ran_downstream}")
    failed_at = obs.ended.get(gp.failing, obs.started[gp.failing])
    late = {name for name in obs.order if obs.started[name] > failed_at}
    if one_at_a_time and late:
        problems.append(
            f"nodes started after the failure of {gp.failing!r}: {sorted(late)} "
            "(SequentialRunner starts nothing after a failure)"
        )
    upstream = gp.upstream()
    for name in sorted(late):
        chained = sorted(upstream.get(name, set()) & late)
        if chained:
            problems.append(
                f"node {name!r} started after the failure of {gp.failing!r}, although its "
                f"upstream {chained} had itself started after the failure"
            )
    return problems


def check_releases(gp: gen.GeneratedPipeline, run: Run, one_at_a_time: bool = False) -> list[str]:
    """release() as Kedro's runners call it for the nodes that completed (exactly, unless nodes
    run in parallel and one failed: then no more than that); confirm() for the confirms of the
    nodes that completed."""
    obs = run.observation
    problems = []
    expected = gen.expected_releases(gp, obs.completed)
    if gp.failing is not None and one_at_a_time is False:
        # ParallelRunner releases only for the nodes it saw complete before the failure
        # reached it; nodes finishing after that release nothing. Never more than Kedro's rule.
        extra = obs.releases - expected
        if extra:
            problems.append(
                f"release() calls Kedro's rule does not make for the nodes that completed: "
                f"{dict(sorted(extra.items()))} (rule: {dict(sorted(expected.items()))})"
            )
    elif obs.releases != expected:
        problems.append(
            f"release() calls: Kedro's rule gives {dict(sorted(expected.items()))}, "
            f"got {dict(sorted(obs.releases.items()))}"
        )
    confirms = Counter(
        name for spec in gp.nodes if spec.full_name in obs.completed for name in spec.confirms
    )
    if obs.confirms != confirms:
        problems.append(
            f"confirm() calls: expected {dict(sorted(confirms.items()))}, "
            f"got {dict(sorted(obs.confirms.items()))}"
        )
    return problems


def check_processes(run: Run, nodes_in_driver: bool) -> list[str]:
    """Node and dataset hooks fire where the node runs; releases happen in the driver."""
    problems = []
    for name, pids in sorted(run.observation.node_pids.items()):
        if nodes_in_driver and pids != {run.driver_pid}:
            problems.append(f"node {name!r}: events in processes {sorted(pids)}, not the driver")
        if not nodes_in_driver and run.driver_pid in pids:
            problems.append(f"node {name!r}: events in the driver, not a worker process")
        if len(pids) > 1:
            problems.append(f"node {name!r}: events from several processes {sorted(pids)}")
    release_pids = run.observation.event_pids.get("release", set())
    if release_pids - {run.driver_pid}:
        problems.append(f"release() called outside the driver, in {sorted(release_pids)}")
    return problems


def check_resume_hint(gp: gen.GeneratedPipeline, run: Run) -> list[str]:
    """A failed run logs one hint; its --from-nodes cover every node that did not complete."""
    if gp.failing is None:
        return [f"resume hint logged by a successful run: {run.hints}"] if run.hints else []
    if len(run.hints) != 1:
        return [f"expected one resume hint from the runner's logger, got {run.hints}"]
    hint = run.hints[0]
    if "No nodes ran" in hint:
        return []
    names = hint.rsplit("--from-nodes", 1)[1].strip().strip('"').split(",")
    pipeline = gen.build_pipeline(gp)
    known = {node.name for node in pipeline.nodes}
    if not set(names) <= known:
        return [f"resume hint names unknown nodes {sorted(set(names) - known)}: {hint!r}"]
    covered = {node.name for node in pipeline.from_nodes(*names).nodes}
    uncovered = sorted(known - run.observation.completed - covered)
    if uncovered:
        return [f"resuming with the hint would not run {uncovered}: {hint!r}"]
    return []


def compare_exact(gp: gen.GeneratedPipeline, ref: Run, got: Run, same_order: bool) -> list[str]:
    """A run of nodes in the driver, one at a time, against SequentialRunner: equal in all."""
    problems = compare_errors(ref, got) + compare_outputs(ref, got)
    problems += compare_files(ref.files, got.files)
    ro, go = ref.observation, got.observation
    if set(ro.order) != set(go.order):
        problems.append(
            f"nodes run: only by Kedro: {sorted(set(ro.order) - set(go.order))}, only by "
            f"DagsterRunner: {sorted(set(go.order) - set(ro.order))}; in order, Kedro ran "
            f"{ro.order}, DagsterRunner {go.order}"
        )
    if same_order and ro.order != go.order and set(ro.order) == set(go.order):
        problems.append(_list_diff("node order", ro.order, go.order))
    problems += compare_per_node(ro.per_node, go.per_node, set(ro.order) | set(go.order))
    if ro.releases != go.releases:
        problems.append(
            f"release() calls: Kedro {dict(sorted(ro.releases.items()))}, "
            f"got {dict(sorted(go.releases.items()))}"
        )
    if ro.confirms != go.confirms:
        problems.append(
            f"confirm() calls: Kedro {dict(sorted(ro.confirms.items()))}, "
            f"got {dict(sorted(go.confirms.items()))}"
        )
    if ro.driver != go.driver:
        problems.append(_list_diff("events outside any node", ro.driver, go.driver))
    if ref.hints != got.hints:
        problems.append(f"resume hint: Kedro logged {ref.hints}, got {got.hints}")
    problems += check_topological(gp, got)
    problems += check_stops_at_failure(gp, got, one_at_a_time=True)
    problems += check_processes(got, nodes_in_driver=True)
    if problems and not same_order and ro.order != go.order:  # a likely cause, for the reader
        problems.append(f"(note: node order differs: Kedro {ro.order}, DagsterRunner {go.order})")
    return problems


def _report(gp: gen.GeneratedPipeline, what: str, problems: list[str], node_id: str) -> str:
    lines = "\n".join(f"  - {problem}" for problem in problems)
    return (
        f"seed {gp.seed} ({what}): {len(problems)} disagreement(s) with Kedro:\n{lines}\n"
        f"reproduce: KDR_DIFF_SEED={gp.seed} python -m pytest '{node_id}'\n"
        f"(python tests/pipeline_generator.py {gp.seed} prints the pipeline)\n{gp.describe()}"
    )


# -------------------------------------------------------------------------------------------
# In-process executors against SequentialRunner


def test_the_oracles_agree_with_sequential_runner(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The rules the multi-process tests apply hold for Kedro's own SequentialRunner."""
    for seed in IN_PROCESS_SEEDS[:15]:
        gp = gen.generate(seed)
        run = run_plain(gp, tmp_path / str(seed), "sequential", SequentialRunner())
        problems = check_releases(gp, run, one_at_a_time=True) + check_topological(gp, run)
        problems += check_stops_at_failure(gp, run, one_at_a_time=True)
        problems += check_resume_hint(gp, run)
        problems += check_processes(run, nodes_in_driver=True)
        if (run.error is None) != (gp.failing is None):
            problems.append(f"generated failure {gp.failure}, run ended with {run.error_text()}")
        assert not problems, _report(
            gp, "SequentialRunner vs the oracles", problems, request.node.nodeid
        )


@pytest.mark.parametrize("executor", ["in_process", "dagster_in_process"])
@pytest.mark.parametrize("seed", IN_PROCESS_SEEDS)
def test_in_process_matches_sequential_runner(
    tmp_path: Path, request: pytest.FixtureRequest, seed: int, executor: str
) -> None:
    gp = gen.generate(seed)
    ref = run_plain(gp, tmp_path, "sequential", SequentialRunner())
    got = run_plain(gp, tmp_path, executor, DagsterRunner(executor=executor))

    # in_process promises SequentialRunner's order itself. For Dagster's stock executor the
    # order is not compared, but what a failure leaves (nodes run, files, releases, the hint)
    # is observable, and must be SequentialRunner's.
    problems = compare_exact(gp, ref, got, same_order=executor == "in_process")

    assert not problems, _report(
        gp, f"DagsterRunner(executor={executor!r})", problems, request.node.nodeid
    )


# -------------------------------------------------------------------------------------------
# The multiprocess executor against ParallelRunner


@dataclass
class Reference:
    """What Kedro's SequentialRunner says each node does, for runs that may run other nodes.

    ``sequential`` is the run of the whole pipeline (it stops at the failure); ``files`` and
    ``steps`` (per-node calls, releases left out) also cover the nodes the failure does not
    block, from a run of those alone.
    """

    sequential: Run
    files: dict[str, list[bytes]]
    steps: dict[str, list[str]]


def _without_releases(per_node: dict[str, list[str]]) -> dict[str, list[str]]:
    return {
        name: [step for step in steps if not step.startswith("release")]
        for name, steps in per_node.items()
    }


def reference(gp: gen.GeneratedPipeline, base: Path) -> Reference:
    full = run_plain(gp, base, "sequential", SequentialRunner())
    files, steps = dict(full.files), _without_releases(full.observation.per_node)
    if gp.failing is not None:
        pipeline = gen.build_pipeline(gp)
        blocked = gp.downstream_of(gp.failing) | {gp.failing}
        runnable = [node.name for node in pipeline.nodes if node.name not in blocked]
        if runnable:
            rest = run_plain(
                gp,
                base,
                "sequential-runnable",
                SequentialRunner(),
                only_nodes=runnable,
            )
            files = {**rest.files, **full.files}
            steps = {**_without_releases(rest.observation.per_node), **steps}
    return Reference(full, files, steps)


def _producer(gp: gen.GeneratedPipeline, key: str) -> str | None:
    """The node writing the persisted file ``key`` (None for the free inputs)."""
    for spec in gp.nodes:
        for output in spec.outputs:
            path = gp.datasets[output].path if output in gp.datasets else None
            if path and (key == path or key.startswith(path + "/")):
                return spec.full_name
    return None


def _hooks_fired(events: list[dict[str, Any]]) -> bool:
    return any(event["event"] in gen.HOOK_EVENTS for event in events)


def _compare_steps(
    reference: dict[str, list[str]], got: Run, reference_has_hooks: bool
) -> list[str]:
    """Per-node calls, releases left out (the driver makes them); when no hook fired at all,
    one line says so and the rest (function calls, file loads/saves, confirms) is compared."""
    problems = []
    got_steps = _without_releases(got.observation.per_node)
    if reference_has_hooks and not _hooks_fired(got.events):
        problems.append(
            "no node or dataset hook fired in any process (Kedro fires before/after_node_run "
            "and the dataset hooks where each node runs); compared without hooks and loads "
            "(a load cannot be attributed to its node without them):"
        )
        hook_steps = (*gen.HOOK_EVENTS, "load:")
        reference = {
            name: [step for step in steps if not step.startswith(hook_steps)]
            for name, steps in reference.items()
        }
        got_steps = {
            name: [step for step in steps if not step.startswith(hook_steps)]
            for name, steps in got_steps.items()
        }
    return problems + compare_per_node(reference, got_steps, set(got_steps))


def compare_parallel(gp: gen.GeneratedPipeline, ref: Reference, got: Run) -> list[str]:
    """A multi-process run held to ParallelRunner's rules (see the module docstring)."""
    problems = compare_errors(ref.sequential, got) + compare_outputs(ref.sequential, got)
    obs = got.observation
    expected_files = {}
    for key, content in ref.files.items():
        producer = _producer(gp, key)
        # a failing generator node keeps the chunks it saved before failing
        if producer is None or producer in obs.completed or producer == gp.failing:
            expected_files[key] = content
    problems += compare_files(expected_files, got.files)
    everything = {spec.full_name for spec in gp.nodes}
    if gp.failing is None and obs.completed != everything:
        problems.append(
            f"a successful run left nodes unfinished: {sorted(everything - obs.completed)}"
        )
    problems += _compare_steps(ref.steps, got, reference_has_hooks=True)
    problems += check_topological(gp, got) + check_stops_at_failure(gp, got)
    problems += check_releases(gp, got) + check_resume_hint(gp, got)
    problems += check_processes(got, nodes_in_driver=False)
    outside = [step for step in obs.driver if not step.startswith("release:")]
    if outside and _hooks_fired(got.events):  # without hooks, loads cannot be attributed
        problems.append(f"events outside any node: {outside}")
    return problems


@pytest.mark.parametrize("seed", MULTIPROCESS_SEEDS)
def test_multiprocess_follows_parallel_runner(
    tmp_path: Path, request: pytest.FixtureRequest, seed: int
) -> None:
    gp = gen.generate(seed, max_nodes=MULTIPROCESS_MAX_NODES)
    ref = reference(gp, tmp_path)

    kedro = run_plain(
        gp,
        tmp_path,
        "parallel",
        ParallelRunner(max_workers=2),
        shared_memory=True,
        hooks_in_settings=True,
    )
    kedro_problems = compare_parallel(gp, ref, kedro)
    assert not kedro_problems, _report(
        gp,
        "ParallelRunner itself breaks the rules: a bug of the test",
        kedro_problems,
        request.node.nodeid,
    )

    got = run_plain(
        gp,
        tmp_path,
        "multiprocess",
        DagsterRunner(executor="multiprocess", max_concurrent=2),
        hooks_in_settings=True,
    )
    problems = compare_parallel(gp, ref, got)

    assert not problems, _report(
        gp,
        "DagsterRunner(executor='multiprocess', max_concurrent=2)",
        problems,
        request.node.nodeid,
    )


START_METHOD_SEEDS = _seeds([MULTIPROCESS_SEEDS[0], MULTIPROCESS_SEEDS[-1]])  # fails, succeeds


@pytest.mark.parametrize("start_method", ["fork", "spawn", "forkserver"])
@pytest.mark.parametrize("seed", START_METHOD_SEEDS)
def test_multiprocess_follows_parallel_runner_under_every_start_method(
    tmp_path: Path, request: pytest.FixtureRequest, seed: int, start_method: str
) -> None:
    """The pool's other start methods (forkserver, the default, is the test above) hold to the
    same rules: workers started by fork inherit the driver's state, workers started by spawn
    import everything afresh, and both rebuild the project's context the same way."""
    gp = gen.generate(seed, max_nodes=MULTIPROCESS_MAX_NODES)
    ref = reference(gp, tmp_path)

    runner = DagsterRunner(executor="multiprocess", max_concurrent=2, start_method=start_method)
    got = run_plain(gp, tmp_path, start_method, runner, hooks_in_settings=True)
    problems = compare_parallel(gp, ref, got)

    assert not problems, _report(
        gp, f"DagsterRunner(executor='multiprocess', start_method={start_method!r})",
        problems, request.node.nodeid,
    )  # fmt: skip


# -------------------------------------------------------------------------------------------
# Through `kedro run`: a generated project on disk

PACKAGE = "kdr_diff_project"

_SETTINGS = f"""from {PACKAGE}.generated import RecordingHooks

HOOKS = (RecordingHooks(),)
"""

_REGISTRY = f"""from pathlib import Path

from {PACKAGE}.generated import GeneratedPipeline, build_pipeline

SPEC = Path(__file__).resolve().parents[2] / "generated_pipeline.json"


def register_pipelines():
    return {{"__default__": build_pipeline(GeneratedPipeline.from_json(SPEC.read_text()))}}
"""

_PYPROJECT = f"""[tool.kedro]
package_name = "{PACKAGE}"
project_name = "Differential test project"
kedro_init_version = "1.0.0"
source_dir = "src"
"""


def make_project(gp: gen.GeneratedPipeline, target: Path) -> Path:
    """A Kedro project running ``gp``: its package holds a copy of pipeline_generator."""
    package = target / "src" / PACKAGE
    package.mkdir(parents=True)
    (target / "pyproject.toml").write_text(_PYPROJECT)
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text(_SETTINGS)
    (package / "pipeline_registry.py").write_text(_REGISTRY)
    shutil.copy(Path(gen.__file__), package / "generated.py")
    (target / "generated_pipeline.json").write_text(gp.to_json())
    for env in ("base", "local"):
        (target / "conf" / env).mkdir(parents=True)
    catalog = gen.catalog_config(gp, PACKAGE)
    (target / "conf" / "base" / "catalog.yml").write_text(yaml.safe_dump(catalog))
    (target / "conf" / "base" / "parameters.yml").write_text(
        yaml.safe_dump(gen.parameters_config(gp))
    )
    gen.prepare_inputs(gp, target)
    return target


@dataclass
class KedroRun:
    """One `kedro run` in a subprocess: its exit code, output, files and recorded events."""

    returncode: int
    output: str
    stderr: str
    files: dict[str, list[bytes]]
    events: list[dict[str, Any]]
    observation: gen.Observation
    driver_pid: int | None

    @property
    def final_error_line(self) -> str | None:
        """The last line `kedro run` writes to stderr when it fails (the exception's line)."""
        if self.returncode == 0:
            return None
        lines = [line.strip() for line in self.stderr.splitlines() if line.strip()]
        return lines[-1] if lines else ""

    def driver_events(self) -> list[str]:
        return [
            gen._step(e)
            for e in self.events
            if e["pid"] == self.driver_pid and e["event"] in gen.RUN_EVENTS
        ]

    def worker_run_events(self) -> list[str]:
        return [
            gen._step(e)
            for e in self.events
            if e["pid"] != self.driver_pid and e["event"] in gen.RUN_EVENTS
        ]


def kedro_runs(
    gp: gen.GeneratedPipeline, base: Path, variants: dict[str, tuple[str, ...]]
) -> dict[str, KedroRun]:
    """`kedro run ARGS` of each variant, each in its own copy of the project, all at once
    (separate processes and folders: nothing is shared but the CPUs)."""
    started = {}
    for label, args in variants.items():
        project = make_project(gp, base / label)
        log = base / f"{label}.events.jsonl"
        env = {
            **os.environ,
            gen.LOG_ENV: str(log),
            "KEDRO_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "1",
            "COLUMNS": "200",
        }
        with open(base / f"{label}.out", "w") as out, open(base / f"{label}.err", "w") as err:
            process = subprocess.Popen(
                [sys.executable, "-m", "kedro", "run", *args],
                cwd=project,
                env=env,
                stdout=out,
                stderr=err,
            )
        started[label] = (process, project, log)
    runs = {}
    for label, (process, project, log) in started.items():
        returncode = process.wait(timeout=600)
        stdout = (base / f"{label}.out").read_text()
        stderr = (base / f"{label}.err").read_text()
        events = gen.read_events(log)
        driver = next((e["pid"] for e in events if e["event"] == "before_pipeline_run"), None)
        runs[label] = KedroRun(
            returncode=returncode,
            output=stdout + stderr,
            stderr=stderr,
            files=gen.persisted_files(project),
            events=events,
            observation=gen.observe(events, gp.failing),
            driver_pid=driver,
        )
    return runs


def _as_run(kedro: KedroRun, label: str) -> Run:
    """A `kedro run` seen as a plain run, for the shared checks."""
    return Run(
        label=label,
        outputs=None,
        error=None,
        files=kedro.files,
        events=kedro.events,
        observation=kedro.observation,
        hints=[],
        driver_pid=kedro.driver_pid or -1,
    )


def compare_kedro_runs(
    gp: gen.GeneratedPipeline, ref: KedroRun, got: KedroRun, parallel: bool
) -> list[str]:
    """`kedro run` with DagsterRunner against `kedro run` with the default SequentialRunner:
    exactly for an in-process executor, by ParallelRunner's rules for a multi-process one."""
    problems = []
    if ref.returncode != got.returncode:
        problems.append(f"exit code: Kedro {ref.returncode}, got {got.returncode}")
    if ref.final_error_line != got.final_error_line:
        problems.append(
            f"final error line: Kedro {ref.final_error_line!r}, got {got.final_error_line!r}"
        )
    if ref.driver_events() != got.driver_events():
        problems.append(
            _list_diff(
                "pipeline/context hooks in the driver", ref.driver_events(), got.driver_events()
            )
        )
    # documented: workers that rebuild the project fire after_context_created and
    # after_catalog_created; nothing else outside a node
    unexpected = [
        e
        for e in got.worker_run_events()
        if e not in ("after_context_created", "after_catalog_created")
    ]
    if unexpected:
        problems.append(f"pipeline hooks outside the driver: {unexpected}")
    hint_ref, hint_got = _hint_lines(ref.output), _hint_lines(got.output)
    if (hint_ref != hint_got) if not parallel else (bool(hint_ref) != bool(hint_got)):
        problems.append(f"resume hint: Kedro {hint_ref}, got {hint_got}")
    compare = _compare_kedro_parallel if parallel else _compare_kedro_exact
    return problems + compare(gp, ref, got)


def _compare_kedro_exact(gp: gen.GeneratedPipeline, ref: KedroRun, got: KedroRun) -> list[str]:
    ro, go = ref.observation, got.observation
    problems = compare_files(ref.files, got.files)
    if ro.order != go.order:
        problems.append(_list_diff("node order", ro.order, go.order))
    problems += compare_per_node(ro.per_node, go.per_node, set(ro.order) | set(go.order))
    if (ro.releases, ro.confirms) != (go.releases, go.confirms):
        problems.append(
            f"release()/confirm(): Kedro {dict(ro.releases)}/{dict(ro.confirms)}, "
            f"got {dict(go.releases)}/{dict(go.confirms)}"
        )
    return problems + check_processes(_as_run(got, "got"), nodes_in_driver=True)


def _compare_kedro_parallel(gp: gen.GeneratedPipeline, ref: KedroRun, got: KedroRun) -> list[str]:
    run = _as_run(got, "got")
    problems = []
    if gp.failing is None:
        problems += compare_files(ref.files, got.files)
    else:
        for key, content in got.files.items():
            if key in ref.files and ref.files[key] != content:
                problems.append(f"persisted bytes of {key} differ from Kedro's")
            producer = _producer(gp, key)
            if producer is not None and producer not in got.observation.per_node:
                problems.append(f"{key} written although {producer!r} never ran")
    reference_steps = _without_releases(ref.observation.per_node)
    problems += _compare_steps(reference_steps, run, reference_has_hooks=True)
    problems += check_topological(gp, run) + check_stops_at_failure(gp, run)
    problems += check_releases(gp, run)
    return problems + check_processes(run, nodes_in_driver=False)


_LOG_DECORATION = re.compile(r"^(\[[^\]]*\])?\s*(WARNING|INFO|ERROR)?\s*|\s+\S+\.py:\d+$")


def _hint_lines(output: str) -> list[str]:
    """The resume hint as `kedro run` logs it (time, level and source column removed)."""
    markers = ("nodes that have not run", "--from-nodes", "No nodes ran")
    return [
        _LOG_DECORATION.sub("", " ".join(line.split()))
        for line in output.splitlines()
        if any(marker in line for marker in markers)
    ]


KEDRO_RUN_VARIANTS: dict[str, tuple[str, ...]] = {
    "dagster-in_process": ("--runner", "kedro_dagster_runner.DagsterRunner"),
    "dagster-multiprocess": (
        "--runner",
        "kedro_dagster_runner.DagsterRunner",
        "--runner-params",
        "executor=multiprocess,max_concurrent=2",
    ),
}


if KEDRO_VERSION < (1, 6):  # `kedro run --runner-params` exists since Kedro 1.6
    del KEDRO_RUN_VARIANTS["dagster-multiprocess"]

_KEDRO_RUNS: dict[int, dict[str, KedroRun]] = {}


def kedro_runs_of(seed: int, base: Path) -> dict[str, KedroRun]:
    """The default runner's and every variant's `kedro run` of a seed, made once."""
    if seed not in _KEDRO_RUNS:
        gp = gen.generate(seed, max_nodes=KEDRO_RUN_MAX_NODES)
        _KEDRO_RUNS[seed] = kedro_runs(gp, base, {"sequential": (), **KEDRO_RUN_VARIANTS})
    return _KEDRO_RUNS[seed]


@pytest.mark.parametrize("variant", list(KEDRO_RUN_VARIANTS))
@pytest.mark.parametrize("seed", KEDRO_RUN_SEEDS)
def test_kedro_run_matches_the_default_runner(
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
    seed: int,
    variant: str,
) -> None:
    gp = gen.generate(seed, max_nodes=KEDRO_RUN_MAX_NODES)
    runs = kedro_runs_of(seed, tmp_path_factory.mktemp(f"kedro-run-{seed}"))
    ref, got = runs["sequential"], runs[variant]
    assert ref.driver_pid is not None, f"kedro run did not start:\n{ref.output[-3000:]}"
    assert (ref.returncode == 0) == (gp.failing is None), ref.output[-3000:]
    args = KEDRO_RUN_VARIANTS[variant]

    problems = compare_kedro_runs(gp, ref, got, parallel="multiprocess" in variant)

    assert not problems, (
        _report(gp, f"kedro run {' '.join(args)}", problems, request.node.nodeid)
        + f"\n--- kedro run {' '.join(args)}: output (tail) ---\n{got.output[-2500:]}"
    )


# -------------------------------------------------------------------------------------------
# The generator itself


def test_the_generator_is_deterministic_and_covers_every_kind() -> None:
    kinds: Counter = Counter()
    for seed in range(60):
        first, second = gen.generate(seed), gen.generate(seed)
        assert first == second == gen.GeneratedPipeline.from_json(first.to_json())
        assert 1 <= len(first.nodes) <= 40
        kinds.update(spec.kind for spec in first.datasets.values())
        kinds.update(spec.func for spec in first.nodes)
        kinds["confirms"] += sum(bool(spec.confirms) for spec in first.nodes)
        kinds["failing"] += first.failing is not None
        kinds["reserved"] += any(name in gen.RESERVED_NAMES for name in first.datasets)
    for kind in (
        "undeclared",
        "memory",
        "file",
        "versioned",
        "append",
        "transcoded",
        "param",
        "input_file",
        "input_memory",
        "combine",
        "combine_named",
        "stream",
        "explode",
        "confirms",
        "failing",
        "reserved",
    ):
        assert kinds[kind] > 0, f"no generated {kind} in 60 seeds: {kinds}"
