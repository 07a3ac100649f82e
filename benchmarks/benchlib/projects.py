"""Synthetic Kedro 1.x projects, one per pipeline shape and size.

Shapes (``N`` is the total number of nodes):

* ``chain``: ``n_0 -> n_1 -> ... -> n_{N-1}``; each node adds one to a small int it receives
  through an undeclared (memory) dataset;
* ``fanout``: one source node ``source`` writes ``seed``; ``N - 1`` independent nodes each read
  ``seed`` and write their own free output;
* ``cpu``: ``N`` independent nodes (``N = 2 x os.cpu_count()``), each a calibrated pure-Python
  busy loop of about 0.2 s;
* ``handoff``: ``make_array`` returns a 200 MB float64 numpy array, ``consume_array`` sums it.
  The project records timestamps (node bodies and dataset hooks) to the file named by the
  ``KDR_BENCH_EVENTS`` environment variable.

Every project has ``.telemetry`` with ``consent: false``, an empty ``conf/local`` and a
``conf/kd/dagster.yml`` used only by kedro-dagster (env ``kd``), so that DagsterRunner, which reads
``conf/base`` and ``conf/local``, never sees it.
"""

from __future__ import annotations

import os
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

SHAPES = ("chain", "fanout", "cpu", "handoff")
HANDOFF_BYTES = 200_000_000  # 200 MB (decimal megabytes, as reported)
HANDOFF_ELEMENTS = HANDOFF_BYTES // 8  # float64
CPU_NODE_SECONDS = 0.2
EVENTS_ENV = "KDR_BENCH_EVENTS"
KD_ENV = "kd"  # the Kedro env holding kedro-dagster's dagster.yml
KD_JOB = "default"


@dataclass(frozen=True)
class Project:
    """A generated project on disk."""

    shape: str
    size: int
    path: Path
    package: str


def cpu_node_count() -> int:
    """Nodes of the ``cpu`` shape: twice the number of CPUs."""
    return 2 * (os.cpu_count() or 1)


def _burn(loops: int) -> int:
    return sum(range(loops)) % 1000


def _time_burn(loops: int) -> float:
    """CPU seconds of one call (CPU time, so that other load on the machine does not count)."""
    started = time.process_time()
    _burn(loops)
    return time.process_time() - started


def calibrate_loops(target_seconds: float = CPU_NODE_SECONDS) -> tuple[int, float]:
    """Loop count for ``sum(range(loops))`` to take ``target_seconds`` of CPU here.

    Returns:
        ``(loops, seconds)``: the calibrated count and the median CPU time of three calls with it.
    """
    loops = 2_000_000
    _burn(loops)  # warm up
    for _ in range(2):  # scale from a probe, then once more from the scaled count
        loops = max(1, round(loops * target_seconds / _time_burn(loops)))
    samples = sorted(_time_burn(loops) for _ in range(3))
    return loops, samples[1]


_NODES_PY = '''\
"""Node functions of the synthetic benchmark project."""

from __future__ import annotations

import json
import os
import time

import numpy as np


def _event(kind: str, **fields: object) -> None:
    path = os.environ.get("{events_env}")
    if path:
        record = {{"event": kind, "time": time.time(), "pid": os.getpid(), **fields}}
        with open(path, "a", encoding="utf-8") as stream:
            stream.write(json.dumps(record) + "\\n")


def start() -> int:
    return 0


def step(value: int) -> int:
    return value + 1


def burn(loops: int) -> int:
    return sum(range(loops)) % 1000


def make_array(elements: int) -> np.ndarray:
    array = np.ones(elements, dtype=np.float64)
    _event("node_end", node="make_array")
    return array


def consume_array(array: np.ndarray) -> float:
    _event("node_start", node="consume_array")
    total = float(array.sum())
    _event("node_end", node="consume_array")
    return total
'''

_HOOKS_PY = '''\
"""Dataset hooks that time the save and the load of the handoff array."""

from __future__ import annotations

from kedro.framework.hooks import hook_impl

from {package}.nodes import _event


class TimingHooks:
    @hook_impl
    def before_dataset_saved(self, dataset_name, data, node):
        _event("before_save", dataset=dataset_name, node=node.name)

    @hook_impl
    def after_dataset_saved(self, dataset_name, data, node):
        _event("after_save", dataset=dataset_name, node=node.name)

    @hook_impl
    def before_dataset_loaded(self, dataset_name, node):
        _event("before_load", dataset=dataset_name, node=node.name)

    @hook_impl
    def after_dataset_loaded(self, dataset_name, data, node):
        _event("after_load", dataset=dataset_name, node=node.name)
'''

_REGISTRY_PY = '''\
"""Pipelines of the synthetic benchmark project: shape {shape!r}, {size} nodes."""

from __future__ import annotations

from kedro.pipeline import Pipeline, node

from {package}.nodes import burn, consume_array, make_array, start, step

SHAPE = {shape!r}
SIZE = {size}


def _chain(size: int) -> list:
    nodes = [node(start, None, "d_0", name="n_0")]
    nodes += [node(step, f"d_{{i - 1}}", f"d_{{i}}", name=f"n_{{i}}") for i in range(1, size)]
    return nodes


def _fanout(size: int) -> list:
    nodes = [node(start, None, "seed", name="source")]
    nodes += [node(step, "seed", f"out_{{i}}", name=f"leaf_{{i}}") for i in range(1, size)]
    return nodes


def _cpu(size: int) -> list:
    return [node(burn, "params:loops", f"cpu_{{i}}", name=f"cpu_{{i}}") for i in range(size)]


def _handoff(size: int) -> list:
    return [
        node(make_array, "params:handoff_elements", "big", name="make_array"),
        node(consume_array, "big", "total", name="consume_array"),
    ]


def register_pipelines() -> dict[str, Pipeline]:
    builders = {{"chain": _chain, "fanout": _fanout, "cpu": _cpu, "handoff": _handoff}}
    return {{"__default__": Pipeline(builders[SHAPE](SIZE))}}
'''

_KD_DAGSTER_YML = f"""\
# kedro-dagster 0.8.1 configuration (Kedro env "{KD_ENV}" only).
executors:
  sequential:
    in_process: {{}}
  local_pool:
    multiprocess:
      max_concurrent: 2
jobs:
  {KD_JOB}:
    pipeline:
      pipeline_name: __default__
    executor: local_pool
"""

_KD_DEFINITIONS_PY = '''\
"""kedro-dagster code location, as its template ``definitions.py`` builds it (no loggers)."""

from pathlib import Path

import dagster as dg
from kedro_dagster import KedroProjectTranslator

PROJECT_PATH = Path(__file__).resolve().parents[2]

translator = KedroProjectTranslator(env="{kd_env}", project_path=PROJECT_PATH)
dagster_code_location = translator.to_dagster()

resources = dagster_code_location.named_resources
resources |= {{"io_manager": dg.fs_io_manager}}

defs = dg.Definitions(
    assets=list(dagster_code_location.named_assets.values()),
    resources=resources,
    jobs=list(dagster_code_location.named_jobs.values()),
    schedules=list(dagster_code_location.named_schedules.values()),
    sensors=list(dagster_code_location.named_sensors.values()),
    executor=dg.multiprocess_executor.configured({{"max_concurrent": 2}}),
)


def kd_job() -> dg.JobDefinition:
    """The translated job; a module-level function so that Dagster can reconstruct it."""
    return defs.resolve_job_def("{kd_env}__{kd_job}")
'''


def _parameters_yml(shape: str, loops: int) -> str:
    if shape == "cpu":
        return f"loops: {loops}\n"
    if shape == "handoff":
        return f"handoff_elements: {HANDOFF_ELEMENTS}\n"
    return "{}\n"


def _settings_py(shape: str, package: str) -> str:
    if shape != "handoff":
        return '"""Kedro settings: defaults only."""\n'
    return (
        '"""Kedro settings: dataset timing hooks."""\n\n'
        f"from {package}.hooks import TimingHooks\n\n"
        "HOOKS = (TimingHooks(),)\n"
    )


def _pyproject(package: str) -> str:
    return textwrap.dedent(
        f"""\
        [build-system]
        requires = ["setuptools"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "{package}"
        version = "0.1.0"
        dependencies = ["kedro", "numpy"]

        [tool.kedro]
        package_name = "{package}"
        project_name = "{package}"
        kedro_init_version = "1.7.0"
        source_dir = "src"
        """
    )


def write_project(root: Path, shape: str, size: int, loops: int = 1) -> Project:
    """Write the project of ``shape`` with ``size`` nodes under ``root`` and describe it.

    Args:
        root: Parent directory; the project goes to ``root/<shape>_<size>``.
        shape: One of :data:`SHAPES`.
        size: Number of nodes (ignored for ``handoff``, which has two).
        loops: Busy-loop count of each ``cpu`` node (see :func:`calibrate_loops`).
    """
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")
    package = f"kdr_bench_{shape}_{size}"
    path = root / f"{shape}_{size}"
    source = path / "src" / package
    files = {
        path / "pyproject.toml": _pyproject(package),
        path / ".telemetry": "consent: false\n",
        path / "conf" / "base" / "catalog.yml": "{}\n",
        path / "conf" / "base" / "parameters.yml": _parameters_yml(shape, loops),
        path / "conf" / "local" / ".gitkeep": "",
        path / "conf" / KD_ENV / "dagster.yml": _KD_DAGSTER_YML,
        source / "__init__.py": f'"""Synthetic benchmark project {shape}/{size}."""\n',
        source / "settings.py": _settings_py(shape, package),
        source / "nodes.py": _NODES_PY.format(events_env=EVENTS_ENV),
        source / "hooks.py": _HOOKS_PY.format(package=package),
        source / "pipeline_registry.py": _REGISTRY_PY.format(
            shape=shape, size=size, package=package
        ),
        source / "kd_definitions.py": _KD_DEFINITIONS_PY.format(kd_env=KD_ENV, kd_job=KD_JOB),
    }
    for file, text in files.items():
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text, encoding="utf-8")
    return Project(shape=shape, size=size, path=path, package=package)
