"""Random Kedro pipelines for the differential tests, and the recorders that observe their runs.

:func:`generate` turns a seed into a :class:`GeneratedPipeline`: a pure-data description (JSON
round-trips through :meth:`GeneratedPipeline.to_json`) of a DAG of 1-40 nodes over every kind of
dataset a Kedro project uses: undeclared and declared memory datasets, persisted files, versioned
files, transcoded pairs (``x@w`` written, ``x@r`` read, one file), append-mode files written
chunk by chunk by generator nodes, ``params:`` inputs, free inputs and free outputs, names Dagster
reserves (``input``, ``class``, ...), names that escape alike (``a.b`` / ``a__b``), namespaced node
and dataset names, ``confirms=``, and optionally one failing node. :func:`build_pipeline` and
:func:`build_catalog` make the Kedro objects; :func:`catalog_config` and :func:`parameters_config`
make ``catalog.yml`` / ``parameters.yml`` for a project on disk.

Node functions are module-level functions wrapped in :func:`functools.partial`, so plain pickle
(Kedro's ``ParallelRunner``) can ship them. Their values are digests of their inputs, so any
difference in data flow shows in the outputs.

Recorders: :class:`RecordingHooks` (every Kedro hook) and the ``Recording*Dataset`` classes
(``release()``, ``confirm()`` and file loads/saves) append one JSON line per call, with the
process id and a timestamp, to a log named by their ``log_path`` argument or, without one, by the
``KDR_DIFF_LOG`` environment variable, so calls made in worker processes are captured too.
:func:`read_events` and :func:`observe` turn such a log into what the tests compare.

Run one seed by hand: ``python tests/pipeline_generator.py 17`` prints its description.
"""

from __future__ import annotations

import functools
import glob
import hashlib
import json
import os
import random
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io import AbstractVersionedDataset, DataCatalog, MemoryDataset, SharedMemoryDataCatalog
from kedro.io.core import DatasetError, Version
from kedro.io.shared_memory_dataset import SharedMemoryDataset
from kedro.pipeline import Pipeline, node
from kedro.pipeline.transcoding import _strip_transcoding

LOG_ENV = "KDR_DIFF_LOG"

# Names Dagster refuses for inputs/outputs (dagster._core.definitions.utils.DISALLOWED_NAMES,
# which includes every Python keyword); Kedro allows them all.
RESERVED_NAMES = (
    "input",
    "output",
    "type",
    "config",
    "context",
    "dict",
    "str",
    "int",
    "conf",
    "meta",
    "arg_dict",
    "class",
    "lambda",
    "def",
    "import",
    "return",
    "None",
    "True",
    "yield",
    "async",
)
EXOTIC_NAMES = ("x-y", "with space", "café", "UPPER", "9starts_with_digit")


# -------------------------------------------------------------------------------------------
# Node functions (module level: picklable by plain pickle)


class GeneratedNodeError(Exception):
    """The custom exception a generated failing node raises."""


def _digest(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def _named(func: Any, **keywords: Any) -> functools.partial:
    """``partial(func, **keywords)`` keeping ``func``'s name (Kedro logs node functions by it)."""
    wrapped = functools.partial(func, **keywords)
    wrapped.__name__ = func.__name__  # type: ignore[attr-defined]
    wrapped.__qualname__ = func.__qualname__  # type: ignore[attr-defined]
    wrapped.__module__ = func.__module__
    return wrapped


def _values(salt: str, n_out: int, inputs: Any, chunk: int | None = None) -> Any:
    values = [f"{salt}:{index}:{_digest(salt, index, chunk, inputs)}" for index in range(n_out)]
    if n_out == 0:
        return None
    if n_out == 1:
        return values[0]
    return values


# Every node function records ``call`` when its body starts and ``return`` when it ends normally
# (for a generator: once exhausted), whether or not hooks fire, under its node's ``node`` name.


def combine(*inputs: Any, salt: str = "", n_out: int = 1, node: str = "", log_path=None) -> Any:
    """A plain node: its outputs are digests of its inputs."""
    record(log_path, "call", node=node)
    values = _values(salt, n_out, list(inputs))
    record(log_path, "return", node=node)
    return values


def combine_named(
    salt: str = "", n_out: int = 1, node: str = "", log_path: str | None = None, **inputs: Any
) -> Any:
    """A node taking its inputs by keyword (a dict of inputs in the node definition)."""
    record(log_path, "call", node=node)
    values = _values(salt, n_out, sorted(inputs.items()))
    record(log_path, "return", node=node)
    return values


def stream(
    *inputs: Any,
    salt: str = "",
    n_out: int = 1,
    chunks: int = 2,
    fail_at: int = -1,
    node: str = "",
    log_path: str | None = None,
) -> Iterator[Any]:
    """A generator node: Kedro saves each chunk it yields; it raises at chunk ``fail_at``."""
    record(log_path, "call", node=node)
    for chunk in range(chunks):
        if chunk == fail_at:
            raise GeneratedNodeError(f"generator {salt} failed at chunk {chunk}")
        value = _values(salt, n_out, list(inputs), chunk)
        yield tuple(value) if n_out > 1 else value
    record(log_path, "return", node=node)


def explode(
    *inputs: Any,
    error: str = "GeneratedNodeError",
    message: str = "boom",
    node: str = "",
    log_path: str | None = None,
) -> Any:
    """A failing node: raises ``error`` with ``message``."""
    record(log_path, "call", node=node)
    if error == "KeyError":
        raise KeyError(message)
    raise GeneratedNodeError(message)


# -------------------------------------------------------------------------------------------
# Recorders


def _log_path(explicit: str | None) -> str | None:
    return explicit or os.environ.get(LOG_ENV) or None


def record(log_path: str | None, event: str, **fields: Any) -> None:
    """Append one event (with this process's id and the time) to the log, if there is one."""
    path = _log_path(log_path)
    if not path:
        return
    line = json.dumps({"event": event, "pid": os.getpid(), "t": time.time(), **fields})
    with open(path, "a", encoding="utf-8") as stream:
        stream.write(line + "\n")


def fingerprint(data: Any) -> str:
    """A short, stable text for a value (digests survive pickling and JSON round trips)."""
    if isinstance(data, tuple):
        data = list(data)
    return _digest(data)


class RecordingHooks:
    """Records every Kedro hook call; ``log_path`` (or ``$KDR_DIFF_LOG``) names the log."""

    def __init__(self, log_path: str | None = None) -> None:
        self.log_path = log_path

    def _record(self, event: str, **fields: Any) -> None:
        record(self.log_path, event, **fields)

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        self._record("after_context_created")

    @hook_impl
    def after_catalog_created(self, catalog: Any) -> None:
        self._record("after_catalog_created")

    @hook_impl
    def before_pipeline_run(self, run_params: dict[str, Any]) -> None:
        self._record("before_pipeline_run")

    @hook_impl
    def after_pipeline_run(self, run_params: dict[str, Any]) -> None:
        self._record("after_pipeline_run")

    @hook_impl
    def on_pipeline_error(self, error: Exception) -> None:
        self._record("on_pipeline_error", error=type(error).__name__, message=str(error))

    @hook_impl
    def before_node_run(self, node: Any, inputs: dict[str, Any]) -> None:
        data = {name: fingerprint(value) for name, value in sorted(inputs.items())}
        self._record("before_node_run", node=node.name, data=fingerprint(data))

    @hook_impl
    def after_node_run(self, node: Any) -> None:
        self._record("after_node_run", node=node.name)

    @hook_impl
    def on_node_error(self, node: Any, error: Exception) -> None:
        self._record(
            "on_node_error", node=node.name, error=type(error).__name__, message=str(error)
        )

    @hook_impl
    def before_dataset_loaded(self, dataset_name: str, node: Any) -> None:
        self._record("before_dataset_loaded", node=node.name, dataset=dataset_name)

    @hook_impl
    def after_dataset_loaded(self, dataset_name: str, data: Any, node: Any) -> None:
        self._record(
            "after_dataset_loaded", node=node.name, dataset=dataset_name, data=fingerprint(data)
        )

    @hook_impl
    def before_dataset_saved(self, dataset_name: str, data: Any, node: Any) -> None:
        self._record(
            "before_dataset_saved", node=node.name, dataset=dataset_name, data=fingerprint(data)
        )

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, node: Any) -> None:
        self._record("after_dataset_saved", node=node.name, dataset=dataset_name)


class RecordingMemoryDataset(MemoryDataset):
    """A ``MemoryDataset`` that records ``release()`` and ``confirm()``."""

    def __init__(
        self,
        data: Any = None,
        name: str = "",
        log_path: str | None = None,
        has_data: bool = False,
    ) -> None:
        if has_data:
            super().__init__(data=data)
        else:
            super().__init__()
        self._name = name
        self._log_path = log_path

    def _release(self) -> None:
        record(self._log_path, "release", dataset=self._name)
        super()._release()

    def confirm(self) -> None:
        record(self._log_path, "confirm", dataset=self._name)


class RecordingSharedMemoryDataset(SharedMemoryDataset):
    """``ParallelRunner``'s shared memory dataset, recording ``release()`` and ``confirm()``."""

    def __init__(self, name: str = "", log_path: str | None = None) -> None:
        super().__init__()
        self._name = name
        self._log_path = log_path

    def _release(self) -> None:
        record(self._log_path, "release", dataset=self._name)

    def confirm(self) -> None:
        record(self._log_path, "confirm", dataset=self._name)


class RecordingFileDataset(AbstractVersionedDataset):
    """A JSON file (or, with ``append``, JSON lines: one per save, loaded as a list), optionally
    versioned, recording loads, saves, ``release()`` and ``confirm()``."""

    def __init__(
        self,
        filepath: str,
        name: str = "",
        log_path: str | None = None,
        append: bool = False,
        version: Version | None = None,
    ) -> None:
        super().__init__(
            filepath=PurePosixPath(filepath),
            version=version,
            exists_function=os.path.exists,
            glob_function=glob.glob,
        )
        self._name = name
        self._log_path = log_path
        self._append = append

    def load(self) -> Any:
        path = self._get_load_path()
        record(self._log_path, "load", dataset=self._name)
        text = Path(path).read_text(encoding="utf-8")
        if self._append:
            return [json.loads(line) for line in text.splitlines()]
        return json.loads(text)

    def save(self, data: Any) -> None:
        path = Path(self._get_save_path())
        record(self._log_path, "save", dataset=self._name, data=fingerprint(data))
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a" if self._append else "w", encoding="utf-8") as stream:
            stream.write(json.dumps(data, sort_keys=True) + "\n")

    def _exists(self) -> bool:
        try:
            path = self._get_load_path()
        except DatasetError:
            return False
        return Path(path).exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "version": self._version}

    def _release(self) -> None:
        record(self._log_path, "release", dataset=self._name)
        super()._release()

    def confirm(self) -> None:
        record(self._log_path, "confirm", dataset=self._name)


# -------------------------------------------------------------------------------------------
# The description of a generated pipeline


@dataclass
class DatasetSpec:
    """A dataset of a generated pipeline.

    ``kind``: ``undeclared`` (not in the catalog), ``memory`` (declared memory dataset),
    ``file``, ``versioned``, ``append`` (file written chunk by chunk), ``transcoded`` (one of two
    entries on one file), ``param`` (``params:...``), ``input_file`` / ``input_memory`` (free
    inputs with a value).
    """

    name: str
    kind: str
    path: str | None = None
    value: Any = None
    param_path: list[str] | None = None

    @property
    def declared(self) -> bool:
        return self.kind != "undeclared"

    @property
    def recording(self) -> bool:
        """Declared with a recording dataset class (release/confirm are observed)."""
        return self.kind not in ("undeclared", "param")

    @property
    def persisted(self) -> bool:
        return self.kind in ("file", "versioned", "append", "transcoded", "input_file")


@dataclass
class NodeSpec:
    """A node of a generated pipeline: ``func`` is ``combine``, ``combine_named``, ``stream``
    (a generator) or ``explode``; ``keywords`` are the partial's keyword arguments."""

    name: str
    func: str
    inputs: list[str]
    outputs: list[str]
    keywords: dict[str, Any] = field(default_factory=dict)
    namespace: str | None = None
    confirms: list[str] = field(default_factory=list)
    input_names: list[str] | None = None  # the keyword names for ``combine_named``

    @property
    def full_name(self) -> str:
        return f"{self.namespace}.{self.name}" if self.namespace else self.name


@dataclass
class GeneratedPipeline:
    """A generated pipeline: nodes in generation (topological) order and their datasets."""

    seed: int
    nodes: list[NodeSpec]
    datasets: dict[str, DatasetSpec]
    failing: str | None = None  # full name of the failing node
    failure: str | None = None  # what it raises, for describe()

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> GeneratedPipeline:
        raw = json.loads(text)
        return cls(
            seed=raw["seed"],
            nodes=[NodeSpec(**item) for item in raw["nodes"]],
            datasets={name: DatasetSpec(**item) for name, item in raw["datasets"].items()},
            failing=raw["failing"],
            failure=raw["failure"],
        )

    def node(self, full_name: str) -> NodeSpec:
        return next(spec for spec in self.nodes if spec.full_name == full_name)

    def upstream(self) -> dict[str, set[str]]:
        """Node -> the nodes it depends on (dataset edges, transcoding suffixes stripped)."""
        producer = {
            _strip_transcoding(out): spec.full_name for spec in self.nodes for out in spec.outputs
        }
        return {
            spec.full_name: {
                producer[_strip_transcoding(name)]
                for name in spec.inputs
                if _strip_transcoding(name) in producer
            }
            for spec in self.nodes
        }

    def downstream_of(self, full_name: str) -> set[str]:
        """Every node that depends, directly or not, on ``full_name``."""
        upstream = self.upstream()
        found: set[str] = set()
        changed = True
        while changed:
            changed = False
            for name, parents in upstream.items():
                if name not in found and (full_name in parents or parents & found):
                    found.add(name)
                    changed = True
        return found

    def describe(self) -> str:
        """A readable description: datasets with their kinds, nodes with their edges."""
        lines = [f"seed {self.seed}: {len(self.nodes)} nodes, {len(self.datasets)} datasets"]
        if self.failing:
            lines.append(f"failing node: {self.failing} ({self.failure})")
        lines.append("datasets:")
        for name, spec in sorted(self.datasets.items()):
            extra = f" = {spec.value!r}" if spec.value is not None else ""
            lines.append(f"  {name!r}: {spec.kind}{extra}")
        lines.append("nodes (generation order):")
        for spec in self.nodes:
            keywords = ", ".join(f"{k}={v!r}" for k, v in sorted(spec.keywords.items()))
            inputs = (
                dict(zip(spec.input_names, spec.inputs, strict=True))
                if spec.input_names
                else spec.inputs
            )
            line = f"  {spec.full_name}: {spec.func}({keywords}) {inputs} -> {spec.outputs}"
            if spec.confirms:
                line += f" confirms {spec.confirms}"
            lines.append(line)
        return "\n".join(lines)


# -------------------------------------------------------------------------------------------
# Generation


class _Names:
    """Fresh, unique dataset names in every style Kedro allows."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._used: set[str] = set()
        self._pending: list[str] = []
        self._counter = 0

    def _unique(self, name: str) -> str:
        candidate, index = name, 0
        while candidate in self._used or _strip_transcoding(candidate) in self._used:
            index += 1
            candidate = f"{name}{index}"
        self._used.add(candidate)
        return candidate

    def fresh(self, namespace: str | None) -> str:  # noqa: PLR0911
        if self._pending:
            return self._unique(self._pending.pop())
        self._counter += 1
        k = self._counter
        style = self._rng.random()
        if style < 0.18:
            return self._unique(self._rng.choice(RESERVED_NAMES))
        if style < 0.26:  # a pair that escapes alike in Dagster: a.b and a__b
            self._pending.append(f"p{k}__q")
            return self._unique(f"p{k}.q")
        if style < 0.32:
            return self._unique(f"{self._rng.choice(EXOTIC_NAMES)}{k}")
        if style < 0.45 and namespace:
            return self._unique(f"{namespace}.d{k}")
        if style < 0.50:
            return self._unique(f"ns{k % 3}.sub.d{k}")
        return self._unique(f"d{k}")


def _weighted(rng: random.Random, choices: dict[str, float]) -> str:
    return rng.choices(list(choices), weights=list(choices.values()))[0]


def _size(rng: random.Random, max_nodes: int) -> int:
    roll = rng.random()
    if roll < 0.55:
        size = rng.randint(1, 6)
    elif roll < 0.9:
        size = rng.randint(7, 14)
    else:
        size = rng.randint(15, 40)
    return min(size, max_nodes)


_NODE_NAMES = ("input", "class", "output", "type", "lambda", "a.b", "a__b", "x-y")


def generate(seed: int, max_nodes: int = 40, fail_rate: float = 0.35) -> GeneratedPipeline:  # noqa: PLR0912, PLR0915
    """A random pipeline for ``seed`` (same seed, same pipeline)."""
    rng = random.Random(seed)
    names = _Names(rng)
    datasets: dict[str, DatasetSpec] = {}
    readable: list[str] = []  # names a node may read (transcoded ones as their @r name)
    nodes: list[NodeSpec] = []
    node_names: set[str] = set()
    confirmed: set[str] = set()
    n_nodes = _size(rng, max_nodes)

    def add(spec: DatasetSpec) -> None:
        datasets[spec.name] = spec

    def free_input() -> str:
        roll = rng.random()
        if roll < 0.45:
            key = rng.choice(["p", "model.alpha", "class", "grid.depth", "input", "lr"])
            name = f"params:{key}"
            if name not in datasets:
                add(DatasetSpec(name, "param", value=rng.randint(0, 99), param_path=key.split(".")))
            return name
        name = names.fresh(None)
        kind = "input_file" if roll < 0.8 else "input_memory"
        path = f"data/in/{len(datasets)}.json" if kind == "input_file" else None
        add(DatasetSpec(name, kind, path=path, value=f"input-{name}-{rng.randint(0, 999)}"))
        readable.append(name)
        return name

    for index in range(n_nodes):
        namespace = rng.choice([None, None, None, "ns", "ns.sub", f"team{index % 2}.sub"])
        name = f"n{index}"
        if rng.random() < 0.12:
            name = rng.choice(_NODE_NAMES)
        full = f"{namespace}.{name}" if namespace else name
        while full in node_names:
            name += "_"
            full = f"{namespace}.{name}" if namespace else name
        node_names.add(full)

        # inputs
        n_in = rng.choices([0, 1, 2, 3], weights=[1, 4, 3, 1])[0]
        if index == 0 and n_in == 0:
            n_in = rng.choice([0, 1])
        inputs: list[str] = []
        for _ in range(n_in):
            use_existing = readable and rng.random() < 0.75
            candidate = rng.choice(readable) if use_existing else free_input()
            if candidate not in inputs:
                inputs.append(candidate)

        # outputs
        func = "stream" if rng.random() < 0.12 else "combine"
        n_out = rng.choices([0, 1, 2, 3], weights=[1, 6, 3, 1])[0]
        if (not inputs or func == "stream") and n_out == 0:
            n_out = 1
        outputs: list[str] = []
        for _ in range(n_out):
            out = names.fresh(namespace)
            if func == "stream":
                kind = _weighted(rng, {"undeclared": 2, "memory": 1, "append": 3})
            else:
                kind = _weighted(
                    rng,
                    {
                        "undeclared": 4,
                        "memory": 3,
                        "file": 3,
                        "versioned": 2,
                        "transcoded": 2,
                    },
                )
            if kind == "transcoded":
                path = f"data/t/{len(datasets)}.json"
                add(DatasetSpec(f"{out}@w", "transcoded", path=path))
                add(DatasetSpec(f"{out}@r", "transcoded", path=path))
                outputs.append(f"{out}@w")
                readable.append(f"{out}@r")
                continue
            path = None
            if kind in ("file", "versioned", "append"):
                path = f"data/out/{len(datasets)}.json"
            add(DatasetSpec(out, kind, path=path))
            outputs.append(out)
            readable.append(out)

        keywords: dict[str, Any] = {"salt": full, "n_out": len(outputs)}
        input_names = None
        if func == "stream":
            keywords["chunks"] = rng.randint(1, 3)
        elif inputs and rng.random() < 0.15:
            func = "combine_named"
            input_names = [f"arg{position}" for position in range(len(inputs))]

        confirms: list[str] = []
        if rng.random() < 0.12:
            # Kedro: a dataset is confirmed by one node at most (transcoding stripped)
            targets = [
                i
                for i in inputs
                if datasets[i].recording and _strip_transcoding(i) not in confirmed
            ]
            if targets:
                confirms.append(rng.choice(targets))
                confirmed.add(_strip_transcoding(confirms[-1]))

        nodes.append(
            NodeSpec(
                name=name,
                func=func,
                inputs=inputs,
                outputs=outputs,
                keywords=keywords,
                namespace=namespace,
                confirms=confirms,
                input_names=input_names,
            )
        )

    failing = failure = None
    if rng.random() < fail_rate:
        streams = [spec for spec in nodes if spec.func == "stream"]
        spec = rng.choice(streams if streams and rng.random() < 0.4 else nodes)
        failing = spec.full_name
        if spec.func == "stream" and rng.random() < 0.6:
            # fails after saving some chunks (no on_node_error then: Kedro saves while iterating)
            spec.keywords["fail_at"] = rng.randint(0, spec.keywords["chunks"])
            spec.keywords["chunks"] = max(spec.keywords["chunks"], spec.keywords["fail_at"] + 1)
            failure = f"GeneratedNodeError at chunk {spec.keywords['fail_at']}"
        else:
            error = rng.choice(["GeneratedNodeError", "KeyError"])
            message = f"{spec.full_name} failed ({rng.randint(0, 9999)})"
            spec.func = "explode"
            spec.input_names = None
            spec.keywords = {"error": error, "message": message}
            failure = f"{error}({message!r})"
    return GeneratedPipeline(seed, nodes, datasets, failing, failure)


# -------------------------------------------------------------------------------------------
# Kedro objects


_FUNCS = {
    "combine": combine,
    "combine_named": combine_named,
    "stream": stream,
    "explode": explode,
}


def build_pipeline(gp: GeneratedPipeline, log_path: str | None = None) -> Pipeline:
    """The Kedro pipeline of a generated description; its functions record their calls in
    ``log_path`` (or ``$KDR_DIFF_LOG``)."""
    nodes = []
    for spec in gp.nodes:
        func = _named(_FUNCS[spec.func], node=spec.full_name, log_path=log_path, **spec.keywords)
        inputs: Any = spec.inputs or None
        if spec.input_names:
            inputs = dict(zip(spec.input_names, spec.inputs, strict=True))
        outputs: Any = spec.outputs or None
        if len(spec.outputs) == 1:
            outputs = spec.outputs[0]  # a single output is returned as is, not in a list
        nodes.append(
            node(
                func,
                inputs,
                outputs,
                name=spec.name,
                namespace=spec.namespace,
                confirms=spec.confirms or None,
            )
        )
    return Pipeline(nodes)


def prepare_inputs(gp: GeneratedPipeline, root: Path) -> None:
    """Write the free input files of the pipeline under ``root``."""
    for spec in gp.datasets.values():
        if spec.kind == "input_file":
            path = root / spec.path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(spec.value, sort_keys=True) + "\n", encoding="utf-8")


def build_catalog(
    gp: GeneratedPipeline, root: Path, log_path: str | None, shared_memory: bool = False
) -> DataCatalog:
    """The catalog of a generated pipeline, its files under ``root``.

    ``shared_memory``: a ``SharedMemoryDataCatalog`` with shared memory datasets, as Kedro's
    ``ParallelRunner`` needs.
    """
    datasets: dict[str, Any] = {}
    for name, spec in gp.datasets.items():
        if spec.kind == "param":
            datasets[name] = MemoryDataset(spec.value)
        elif spec.kind == "memory":
            datasets[name] = (
                RecordingSharedMemoryDataset(name=name, log_path=log_path)
                if shared_memory
                else RecordingMemoryDataset(name=name, log_path=log_path)
            )
        elif spec.kind == "input_memory":
            datasets[name] = RecordingMemoryDataset(
                spec.value, name=name, log_path=log_path, has_data=True
            )
        elif spec.persisted:
            datasets[name] = RecordingFileDataset(
                str(root / spec.path),
                name=name,
                log_path=log_path,
                append=spec.kind == "append",
                version=Version(None, None) if spec.kind == "versioned" else None,
            )
    catalog_class = SharedMemoryDataCatalog if shared_memory else DataCatalog
    return catalog_class(datasets)


def catalog_config(gp: GeneratedPipeline, package: str) -> dict[str, Any]:
    """``catalog.yml`` of a project whose package holds this module as ``<package>.generated``."""
    module = f"{package}.generated"
    config: dict[str, Any] = {}
    for name, spec in gp.datasets.items():
        if spec.kind in ("memory", "input_memory"):
            entry: dict[str, Any] = {"type": f"{module}.RecordingMemoryDataset", "name": name}
            if spec.kind == "input_memory":
                entry.update(data=spec.value, has_data=True)
            config[name] = entry
        elif spec.persisted:
            entry = {"type": f"{module}.RecordingFileDataset", "filepath": spec.path, "name": name}
            if spec.kind == "append":
                entry["append"] = True
            if spec.kind == "versioned":
                entry["versioned"] = True
            config[name] = entry
    return config


def parameters_config(gp: GeneratedPipeline) -> dict[str, Any]:
    """``parameters.yml`` with every ``params:`` input of the pipeline."""
    config: dict[str, Any] = {}
    for spec in gp.datasets.values():
        if spec.kind == "param":
            *parents, leaf = spec.param_path
            target = config
            for key in parents:
                target = target.setdefault(key, {})
            target[leaf] = spec.value
    return config


# -------------------------------------------------------------------------------------------
# Observing a run


VERSION = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}\.\d{2}\.\d{2}\.\d{3}Z")

HOOK_EVENTS = (
    "before_dataset_loaded",
    "after_dataset_loaded",
    "before_node_run",
    "after_node_run",
    "on_node_error",
    "before_dataset_saved",
    "after_dataset_saved",
)
NODE_EVENTS = (*HOOK_EVENTS, "call", "return")
RUN_EVENTS = (
    "after_context_created",
    "after_catalog_created",
    "before_pipeline_run",
    "after_pipeline_run",
    "on_pipeline_error",
)


def read_events(log_path: Path) -> list[dict[str, Any]]:
    """Every recorded event, in the order the log got them."""
    if not log_path.exists():
        return []
    return [json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines()]


def persisted_files(root: Path, subdir: str = "data") -> dict[str, list[bytes]]:
    """Every file under ``root/subdir``, keyed by its path from ``root`` with version folders
    made generic."""
    files: dict[str, list[bytes]] = {}
    for path in sorted((root / subdir).rglob("*")):
        if path.is_file():
            key = VERSION.sub("<version>", path.relative_to(root).as_posix())
            files.setdefault(key, []).append(path.read_bytes())
    return files


def _step(event: dict[str, Any]) -> str:
    """One event as a short comparable string."""
    text = event["event"]
    if "dataset" in event:
        text += f":{event['dataset']}"
    if "data" in event:
        text += f"={event['data']}"
    if "error" in event and event["event"] in ("on_node_error", "on_pipeline_error"):
        text += f"!{event['error']}"
    return text


@dataclass
class Observation:
    """What a run's log shows.

    Attributes:
        per_node: node -> its events in order (hooks, file loads/saves, confirms; releases too
            when they happen in the process that ran the node).
        order: nodes in the order their functions were called (each time they were).
        started / ended: node -> time of its first / last event.
        completed: nodes whose functions returned (the failing node never completes).
        releases / confirms: dataset names released / confirmed, with counts.
        driver: events of the driver process that no node explains (pipeline hooks, releases in
            a multi-process run), in order.
        node_pids: node -> the processes its events came from.
        event_pids: event kind -> the processes it came from.
    """

    per_node: dict[str, list[str]]
    order: list[str]
    started: dict[str, float]
    ended: dict[str, float]
    completed: set[str]
    releases: Counter
    confirms: Counter
    driver: list[str]
    node_pids: dict[str, set[int]]
    event_pids: dict[str, set[int]]


def observe(events: list[dict[str, Any]], failing: str | None) -> Observation:
    """Attribute each event to the node running in its process; see :class:`Observation`.

    Node hooks and the node functions' own ``call`` / ``return`` records name their node; other
    events (file loads and saves, confirms, releases) belong to the node whose event came last
    from the same process. Which nodes ran and completed comes from the functions' records, so
    it holds even where hooks do not fire.
    """
    current: dict[int, str | None] = {}
    per_node: dict[str, list[str]] = {}
    order: list[str] = []
    started: dict[str, float] = {}
    ended: dict[str, float] = {}
    returned: set[str] = set()
    driver: list[str] = []
    node_pids: dict[str, set[int]] = {}
    event_pids: dict[str, set[int]] = {}
    releases: Counter = Counter()
    confirms: Counter = Counter()
    for event in events:
        kind, pid = event["event"], event["pid"]
        event_pids.setdefault(kind, set()).add(pid)
        if kind == "release":
            releases[event["dataset"]] += 1
        elif kind == "confirm":
            confirms[event["dataset"]] += 1
        if kind in NODE_EVENTS:
            name = event["node"]
            current[pid] = name
            if name not in per_node:
                per_node[name] = []
                started[name] = event["t"]
            if kind == "call":
                order.append(name)
            elif kind == "return":
                returned.add(name)
        else:
            name = current.get(pid)
        if name is None or kind in RUN_EVENTS:
            driver.append(_step(event))
            continue
        per_node[name].append(_step(event))
        node_pids.setdefault(name, set()).add(pid)
        if kind not in ("release", "load"):  # loads precede the node's own records
            ended[name] = event["t"]
    completed = returned - {failing}
    return Observation(
        per_node,
        order,
        started,
        ended,
        completed,
        releases,
        confirms,
        driver,
        node_pids,
        event_pids,
    )


def expected_releases(gp: GeneratedPipeline, completed: set[str]) -> Counter:
    """What Kedro's runners release once ``completed`` nodes are done
    (``AbstractRunner._release_datasets``), restricted to the recording datasets."""
    pipeline = build_pipeline(gp)
    free_inputs, free_outputs = pipeline.inputs(), pipeline.outputs()
    load_counts = Counter(name for spec in gp.nodes for name in spec.inputs)
    released: Counter = Counter()
    for spec in gp.nodes:  # the order does not change the multiset
        if spec.full_name not in completed:
            continue
        for name in spec.inputs:
            load_counts[name] -= 1
            if load_counts[name] < 1 and name not in free_inputs:
                released[name] += 1
        for name in spec.outputs:
            if load_counts[name] < 1 and name not in free_outputs:
                released[name] += 1
    return Counter({name: count for name, count in released.items() if gp.datasets[name].recording})


if __name__ == "__main__":  # pragma: no cover - a helper for reproducing a seed by hand
    import sys

    for argument in sys.argv[1:]:
        print(generate(int(argument)).describe())
