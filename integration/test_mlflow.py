"""kedro-mlflow: one MLflow run per Kedro run, whichever processes run the nodes.

kedro-mlflow registers its hooks for every Kedro project in the environment it is installed in,
so it lives in a virtualenv of its own layered over this one (``--system-site-packages``): the
other suites run without it. Runs are tracked in a local MLflow file store inside the project
(MLflow 3 requires ``MLFLOW_ALLOW_FILE_STORE=true`` for that backend).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
PROJECT = HERE / "mlflow_project"
VENV = Path(os.environ.get("KDR_MLFLOW_VENV", "/var/cache/kdr-mlflow-venv"))
RUNNER = "kedro_dagster_runner.DagsterRunner"


@pytest.fixture(scope="session")
def mlflow_python() -> str:
    """A Python with kedro-mlflow on top of this environment's packages (kept between runs)."""
    python = VENV / "bin" / "python"
    probe = [str(python), "-c", "import kedro_mlflow, kedro_dagster_runner"]
    if not python.exists() or subprocess.run(probe, check=False, capture_output=True).returncode:
        shutil.rmtree(VENV, ignore_errors=True)
        subprocess.run(
            [sys.executable, "-m", "venv", "--system-site-packages", str(VENV)], check=True
        )
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "kedro-mlflow>=2.0,<3"],
            check=True,
        )
        subprocess.run(probe, check=True)
    return str(python)


def _kedro_run(python: str, project: Path, *args: str) -> tuple[int, str, int]:
    """``kedro run ARGS`` in ``project``; returns exit code, output and the driver's pid."""
    env = {
        **os.environ,
        "KEDRO_DISABLE_TELEMETRY": "true",
        "MLFLOW_ALLOW_FILE_STORE": "true",
        "COLUMNS": "200",
    }
    driver = subprocess.Popen(
        [python, "-m", "kedro", "run", *args],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output, _ = driver.communicate(timeout=600)
    return driver.returncode, output, driver.pid


def _runs(python: str, project: Path) -> list[dict]:
    """Every run of the project's file store: status, metrics, params, tags, artifacts."""
    script = """
import json, sys
from mlflow.tracking import MlflowClient
client = MlflowClient(sys.argv[1])
runs = []
for experiment in client.search_experiments():
    for run in client.search_runs([experiment.experiment_id]):
        runs.append({
            "experiment": experiment.name,
            "status": run.info.status,
            "metrics": run.data.metrics,
            "params": run.data.params,
            "tags": run.data.tags,
            "artifacts": [a.path for a in client.list_artifacts(run.info.run_id)],
        })
print(json.dumps(runs))
"""
    import json

    result = subprocess.run(
        [python, "-c", script, (project / "mlruns").as_uri()],
        env={**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true"},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return Path(shutil.copytree(PROJECT, tmp_path / "mlflow_project"))


@pytest.mark.timeout(900)
@pytest.mark.parametrize("executor", ["pool", "dask_local"])
def test_workers_log_to_the_drivers_mlflow_run(
    mlflow_python: str, project: Path, executor: str
) -> None:
    code, output, driver_pid = _kedro_run(
        mlflow_python, project, "--runner", RUNNER, "--runner-params", f"executor={executor}"
    )

    assert code == 0, output
    (run,) = _runs(mlflow_python, project)  # one MLflow run for the whole Kedro run
    assert run["experiment"] == "mlflow_demo"
    assert run["status"] == "FINISHED"
    assert run["params"] == {"alpha": "0.5"}  # kedro-mlflow's before_node_run, in a worker
    worker_pids = {run["metrics"].pop(f"pid_part_{i}") for i in range(4)}  # from node code
    assert driver_pid not in worker_pids
    assert run["metrics"] == {
        "score": 18.0,  # MlflowMetricDatasets saved in workers
        "total": 10.0,
        "part_0": 1.0,  # mlflow.log_metric in parallel nodes
        "part_1": 2.0,
        "part_2": 3.0,
        "part_3": 4.0,
    }
    assert run["artifacts"] == ["report.txt"]  # an MlflowArtifactDataset saved in a worker
    assert "kedro_command" in run["tags"]  # kedro-mlflow's driver-side before_pipeline_run


@pytest.mark.timeout(900)
def test_a_failed_run_is_one_failed_mlflow_run_with_what_was_logged(
    mlflow_python: str, project: Path
) -> None:
    args = ("--runner", RUNNER, "--pipelines", "failing")
    code, output, _ = _kedro_run(mlflow_python, project, *args)

    assert code != 0
    assert output.rstrip().endswith("RuntimeError: explode refused the score")  # the node's own
    (run,) = _runs(mlflow_python, project)
    assert run["status"] == "FAILED"  # set by the driver's on_pipeline_error, not a worker
    assert run["metrics"] == {"score": 18.0}  # logged by the node that ran before the failure


def test_private_mlflow_attributes_exist_in_the_installed_release(mlflow_python: str) -> None:
    """kedro_dagster_runner/_compat's MLflow entries resolve where kedro-mlflow is installed."""
    probe = (
        "from kedro_dagster_runner import _compat\n"
        "for name, target in _compat.MLFLOW_ATTRIBUTES.items():\n"
        "    assert _compat.resolve(target) is not None, name\n"
        "assert isinstance(_compat.mlflow_active_run_stack(), list)\n"
        "print(len(_compat.MLFLOW_ATTRIBUTES))\n"
    )
    result = subprocess.run(
        [mlflow_python, "-c", probe], capture_output=True, text=True, check=False, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) >= 1
