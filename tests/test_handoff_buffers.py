"""Handoff data on local stores: out-of-band pickle buffers, loaded through a private memory map;
local runs keep their store in /dev/shm unless TMPDIR or runner.handoff says otherwise."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kedro_dagster_runner.workers import buffers
from kedro_dagster_runner.workers.handoff import SHARED_MEMORY_MIN_FREE, local_handoff_parent
from kedro_dagster_runner.workers.store import DirectoryStore


@pytest.fixture
def store(tmp_path: Path) -> DirectoryStore:
    store = DirectoryStore(str(tmp_path / "run"))
    store.write_spec("{}")
    return store


def test_arrays_and_frames_come_back_equal_writable_and_private(store: DirectoryStore) -> None:
    array = np.arange(1_000_000, dtype="float64").reshape(1000, 1000)
    frame = pd.DataFrame({"a": np.arange(10), "b": list("abcdefghij")})
    store.save("data", {"array": array, "frame": frame, "label": "x"})

    first, second = store.load("data"), store.load("data")

    np.testing.assert_array_equal(first["array"], array)
    pd.testing.assert_frame_equal(first["frame"], frame)
    assert first["label"] == "x"
    first["array"][0, 0] = -1.0  # a reader's writes stay its own
    assert second["array"][0, 0] == 0.0
    with open(store.local_root + "/data.pkl", "rb") as stream:
        assert buffers.is_buffered(stream.read(len(buffers.MAGIC)))


def test_data_stays_readable_after_its_file_is_removed(store: DirectoryStore) -> None:
    array = np.ones(10_000)
    store.save("ones", array)
    loaded = store.load("ones")

    store.discard("ones")

    assert float(loaded.sum()) == 10_000.0


def test_buffers_are_aligned_for_every_array(tmp_path: Path) -> None:
    arrays = [np.arange(n, dtype="int8") for n in (1, 3, 65, 1000)]
    path = tmp_path / "a.pkl"
    with path.open("wb") as stream:
        buffers.dump(arrays, stream)

    loaded = buffers.load(str(path))

    for original, back in zip(arrays, loaded, strict=True):
        np.testing.assert_array_equal(original, back)
        assert back.ctypes.data % 64 == 0


def test_other_files_of_the_store_stay_plain_cloudpickle(store: DirectoryStore) -> None:
    store.write_private("inputs", {"key": "value"})
    with open(store.local_root + "/_private/inputs.pkl", "rb") as stream:
        assert not buffers.is_buffered(stream.read(len(buffers.MAGIC)))
    assert store.read_private("inputs") == {"key": "value"}


def test_local_runs_use_shared_memory_unless_tmpdir_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TMPDIR", raising=False)
    shared = Path("/dev/shm")
    usable = (
        shared.is_dir()
        and os.access(shared, os.W_OK)
        and shutil.disk_usage(shared).free >= SHARED_MEMORY_MIN_FREE
    )
    assert local_handoff_parent() == (str(shared) if usable else None)

    monkeypatch.setenv("TMPDIR", "/tmp")
    assert local_handoff_parent() is None


@pytest.fixture
def shared_memory_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A run store in a /dev/shm folder of the test's own; spills go under its tmp_path."""
    import tempfile

    if not (Path("/dev/shm").is_dir() and os.access("/dev/shm", os.W_OK)):
        pytest.skip("this machine has no writable /dev/shm")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    parent = Path(tempfile.mkdtemp(prefix="kdr-test-", dir="/dev/shm"))
    store = DirectoryStore(str(parent / "run"))
    store.write_spec("{}")
    yield store
    store.remove()
    shutil.rmtree(parent, ignore_errors=True)


def test_data_too_large_for_shared_memory_spills_to_disk_and_reads_the_same(
    shared_memory_store: DirectoryStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kedro_dagster_runner.workers import store as store_module

    small = np.arange(10)
    monkeypatch.setattr(store_module, "SHARED_MEMORY_RESERVE_BYTES", 0)
    monkeypatch.setattr(store_module, "SHARED_MEMORY_RESERVE_SHARE", 0.0)  # room enough
    shared_memory_store.save("small", small)  # stays in memory
    monkeypatch.setattr(store_module, "SHARED_MEMORY_RESERVE_SHARE", 1.0)  # no room left
    big = np.arange(100_000)
    shared_memory_store.save("big", big)

    spilled = list(tmp_path.glob("kedro-dagster-handoff-spill-*/big.pkl"))
    assert len(spilled) == 1
    assert not (Path(shared_memory_store.local_root) / "big.pkl").exists()
    assert (Path(shared_memory_store.local_root) / "small.pkl").exists()
    assert shared_memory_store.exists("big")
    np.testing.assert_array_equal(shared_memory_store.load("big"), big)
    np.testing.assert_array_equal(shared_memory_store.load("small"), small)

    shared_memory_store.discard("big")
    assert not shared_memory_store.exists("big")
    shared_memory_store.save("again", big)
    shared_memory_store.remove()
    assert list(tmp_path.glob("kedro-dagster-handoff-spill-*")) == []
