"""Every private Dagster and Kedro API the package uses exists in the installed releases.

When an upgrade moves one of them, the failure names the symbol (kedro_dagster_runner/_compat).
MLflow's are checked in integration/test_mlflow.py, where kedro-mlflow is installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from kedro.io import MemoryDataset
from kedro_datasets.pandas import CSVDataset
from kedro_projects import DEMO_PROJECT

from kedro_dagster_runner import _compat
from kedro_dagster_runner.errors import CompatError


@pytest.mark.parametrize("name", sorted(_compat.DAGSTER_SYMBOLS))
def test_every_private_dagster_symbol_resolves(name: str) -> None:
    assert getattr(_compat, name) is _compat.resolve(_compat.DAGSTER_SYMBOLS[name])


@pytest.mark.parametrize("name", sorted(_compat.KEDRO_ATTRIBUTES))
def test_every_private_kedro_attribute_resolves(name: str) -> None:
    assert callable(_compat.resolve(_compat.KEDRO_ATTRIBUTES[name]))


def test_a_moved_symbol_is_named_in_the_error() -> None:
    with pytest.raises(CompatError, match=r"dagster\._core\.gone:Thing is not available"):
        _compat.resolve("dagster._core.gone:Thing")
    with pytest.raises(CompatError, match=r"ActiveExecution\.nope"):
        _compat.resolve("dagster._core.execution.plan.active:ActiveExecution.nope")


def test_dataset_accessors_read_kedro_datasets(tmp_path: Path) -> None:
    from kedro.io import Version

    versioned = CSVDataset(filepath=str(tmp_path / "a.csv"), version=Version(None, "v1"))

    assert _compat.dataset_filepath(versioned) == str(tmp_path / "a.csv")
    assert _compat.dataset_version(versioned).save == "v1"
    assert _compat.dataset_versioned_path(versioned, "v1") == str(tmp_path / "a.csv/v1/a.csv")
    assert _compat.is_ephemeral(MemoryDataset()) and not _compat.is_ephemeral(versioned)
    assert _compat.dataset_filepath(MemoryDataset()) is None


_SESSION_PROBE = """
import json, sys
from pathlib import Path
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from pluggy import PluginManager
from kedro_dagster_runner import _compat

project = Path(sys.argv[1])
bootstrap_project(project)
with KedroSession.create(project_path=project, runtime_params={"x": 1}) as session:
    context = session.load_context()
    catalog = _compat.build_catalog(context, "2026-01-01T00.00.00.000Z", None)
    print(json.dumps({
        "package": _compat.context_package_name(context),
        "params": _compat.context_runtime_params(context),
        "hooks": isinstance(_compat.session_hook_manager(session), PluginManager),
        "catalog": type(catalog).__name__,
    }))
"""


def test_session_and_context_accessors_work_on_a_real_project(tmp_path: Path) -> None:
    probe = subprocess.run(
        [sys.executable, "-c", _SESSION_PROBE, str(DEMO_PROJECT)],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
    )  # fmt: skip

    assert probe.returncode == 0, probe.stderr
    seen = json.loads(probe.stdout.strip().splitlines()[-1])
    assert seen == {
        "package": "demo_project",
        "params": {"x": 1},
        "hooks": True,
        "catalog": seen["catalog"],
    }
    assert "Catalog" in seen["catalog"]
