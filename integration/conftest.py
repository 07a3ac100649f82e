"""Real services for the integration suite: Redis, RabbitMQ, dask, Celery, Postgres, Docker.

Redis and RabbitMQ are expected on 127.0.0.1 (:6379, :5672 guest/guest); they are started with
the machine's own commands when they do not answer. Everything started here is stopped at the end
and checked to be gone.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))

from kedro_projects import (  # the shared helpers live in tests/
    DEMO_PROJECT,
    EXAMPLE_PROJECT,
    KedroRunner,
    copy_project,
    dagster_home,  # noqa: F401 - fixtures shared with tests/
    demo_project,  # noqa: F401
    example_project,  # noqa: F401
    kedro_demo,  # noqa: F401
    kedro_runner,
)

REDIS_START = (
    'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no '
    "--dir /var/lib/redis --logfile /var/log/redis/ci.log"
)
RABBITMQ_START = "rabbitmq-server -detached"


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_for_port(port: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not port_open(port):
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {seconds} s")
        time.sleep(0.5)


def ensure_service(port: int, start_command: str, seconds: float = 60) -> None:
    """Start a machine service with its own start command if it does not answer."""
    if not port_open(port):
        subprocess.run(start_command, shell=True, check=False)
        wait_for_port(port, seconds)


@pytest.fixture(scope="session")
def redis_url() -> str:
    ensure_service(6379, REDIS_START)
    return "redis://127.0.0.1:6379"


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    ensure_service(5672, RABBITMQ_START, seconds=120)
    return "amqp://guest:guest@127.0.0.1:5672//"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Background:
    """A background process group, stopped (and checked gone) at the end."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str], log: Path) -> None:
        self.log = log
        self._stream = log.open("w")
        self.process = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=self._stream, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def output(self) -> str:
        return self.log.read_text()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._stream.close()
        deadline = time.monotonic() + 20  # children (e.g. a code server) exit after their parent
        while group_alive(self.process.pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not group_alive(self.process.pid), f"processes of {self.log.name} survived"


def group_alive(pgid: int) -> bool:
    """True while any process of the process group is still running (not a zombie)."""
    result = subprocess.run(
        ["ps", "-o", "stat=", "-g", str(pgid)], capture_output=True, text=True, check=False
    )
    return any(not state.startswith("Z") for state in result.stdout.split())


@pytest.fixture
def worker_env(tmp_path: Path) -> dict[str, str]:
    """Environment of workers and runs: one hook log shared by the driver and the workers."""
    return {
        **os.environ,
        "KEDRO_DISABLE_TELEMETRY": "true",
        "DEMO_HOOK_LOG": str(tmp_path / "hooks.jsonl"),
    }


@dataclass
class DaskCluster:
    """A dask scheduler and its worker processes, started by a test."""

    address: str
    scheduler: Background
    workers: Background


@pytest.fixture
def dask_cluster(tmp_path: Path, worker_env: dict[str, str]) -> Iterator[DaskCluster]:
    """A dask scheduler and two single-threaded worker processes on 127.0.0.1 (logs:
    scheduler.log, workers.log in the test's tmp_path)."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = shutil.which("dask") or "dask"
    scheduler = Background(
        [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port),
         "--dashboard-address", ":0"],
        tmp_path, worker_env, tmp_path / "scheduler.log",
    )  # fmt: skip
    workers = None
    try:
        wait_for_port(port, 60)
        workers = Background(
            [dask, "worker", address, "--nworkers", "2", "--nthreads", "1", "--host", "127.0.0.1",
             "--no-dashboard"],
            tmp_path, worker_env, tmp_path / "workers.log",
        )  # fmt: skip
        _wait_for_dask_workers(address, 2)
        yield DaskCluster(address, scheduler, workers)
    finally:
        if workers is not None:
            workers.stop()
        scheduler.stop()


@pytest.fixture
def dask_scheduler(dask_cluster: DaskCluster) -> str:
    """The address of :func:`dask_cluster`'s scheduler."""
    return dask_cluster.address


def _wait_for_dask_workers(address: str, count: int) -> None:
    from distributed import Client

    with Client(address, timeout=60) as client:
        client.wait_for_workers(count, timeout=120)


def write_dagster_yml(project: Path, executors: dict[str, dict]) -> None:
    import yaml

    path = project / "conf" / "base" / "dagster.yml"
    path.write_text(yaml.safe_dump({"executors": executors, "runner": {"executor": "serial"}}))


@pytest.fixture
def queue_name() -> str:
    return f"kdr-it-{uuid.uuid4().hex[:8]}"


def start_celery_worker(project: Path, executor: str, env: dict[str, str], log: Path) -> Background:
    worker = Background(
        [sys.executable, "-m", "kedro", "dagster-runner", "celery-worker",
         "--executor", executor, "--concurrency", "2", "--loglevel", "INFO"],
        project, env, log,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while " ready." not in worker.output():  # Celery logs "celery@<host> ready."
        if worker.process.poll() is not None or time.monotonic() > deadline:
            worker.stop()
            raise RuntimeError(f"celery worker did not start:\n{worker.output()}")
        time.sleep(0.5)
    return worker


def start_dagster_celery_worker(
    project: Path,
    entry: dict,
    env: dict[str, str],
    log: Path,
    app: str = "dagster_celery.app",
    kind: str = "dagster_celery",
) -> Background:
    """`dagster-celery worker start -A <app>` (dagster-celery's own CLI) in ``project``, for the
    executor ``entry`` of ``kind`` (dagster_celery, or celery_docker with dagster-celery-docker's
    app): its broker and backend, listening on its default queue. Its Dagster home (where the
    CLI writes the worker's Celery settings) is the test's own."""
    import yaml

    home = log.parent / f"{log.stem}-dagster-home"
    home.mkdir()
    config = log.parent / f"{log.stem}.yaml"
    settings = {key: entry[key] for key in ("broker", "backend")}
    config.write_text(yaml.safe_dump({"execution": {"config": settings}}))
    from kedro_dagster_runner.executors import kind_named

    # A URL with a password reaches the run config as {env: VARIABLE}: workers, which check the
    # run's config, get the variable as the docs say.
    secrets = kind_named(kind).secret_variables(entry)
    worker = Background(
        ["dagster-celery", "worker", "start", "-A", app, "-y", str(config),
         "-q", entry["default_queue"], "--", "--concurrency", "2"],
        project, {**env, **secrets, "DAGSTER_HOME": str(home)}, log,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while " ready." not in worker.output():
        if worker.process.poll() is not None or time.monotonic() > deadline:
            worker.stop()
            raise RuntimeError(f"dagster-celery worker did not start:\n{worker.output()}")
        time.sleep(0.5)
    return worker


@pytest.fixture
def demo(tmp_path: Path) -> tuple[Path, KedroRunner]:
    project = copy_project(DEMO_PROJECT, tmp_path / "demo_project")
    return project, kedro_runner(project, tmp_path)


@pytest.fixture
def example(tmp_path: Path) -> tuple[Path, KedroRunner]:
    project = copy_project(EXAMPLE_PROJECT, tmp_path / "spaceflights")
    return project, kedro_runner(project, tmp_path)


POSTGRES_START = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"


def psql(statement: str) -> str:
    """Run one SQL statement on the machine's Postgres as ``postgres``; its unaligned output."""
    result = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1",
         "-At", "-c", statement],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"psql failed on {statement!r}: {result.stderr.strip()}")
    return result.stdout.strip()


@pytest.fixture(scope="session")
def postgres_db() -> Iterator[str]:
    """A fresh database on the machine's Postgres (127.0.0.1:5432, user postgres, trust).

    Dropped at the end of the session, and checked to be gone. ``WITH (FORCE)`` (Postgres 13+)
    first ends any session still connected to it (a Dagster instance a test left open, a run
    worker still running), which a plain ``DROP DATABASE`` would fail on.
    """
    ensure_service(5432, POSTGRES_START)
    name = f"kdr_it_{uuid.uuid4().hex[:8]}"
    psql(f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        assert psql(f"SELECT datname FROM pg_database WHERE datname = '{name}'") == ""


def postgres_instance(db_name: str, home: Path):
    """The Dagster instance DagsterRunner records runs in for ``{postgres: {db_name: ...}}``.

    The machine's Postgres trusts local connections: the password variable needs a value only.
    """
    import yaml
    from dagster import DagsterInstance
    from dagster._core.instance.ref import InstanceRef

    from kedro_dagster_runner.config import PostgresSettings
    from kedro_dagster_runner.deploy.instance import postgres_instance_config

    os.environ.setdefault("DAGSTER_PG_PASSWORD", "any: trust authentication")
    home.mkdir(parents=True, exist_ok=True)
    config = postgres_instance_config(PostgresSettings(db_name=db_name), "CRITICAL")
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))


def k8s_project(
    source: Path,
    target: Path,
    image: str,
    db_name: str,
    emulator,
    password: str,
    options: dict | None = None,
    runner: dict | None = None,
) -> Path:
    """A copy of ``source`` whose ``cluster`` executor runs on the emulated Kubernetes API.

    The kubeconfig is written inside the project, which the pods mount at the same path; the
    instance password reaches them from the ``dagster-pg`` Secret. ``options`` are added to the
    k8s entry, ``runner`` to the ``runner:`` section (executor ``cluster``, Postgres instance).
    """
    import base64

    import kubernetes
    import yaml

    project = copy_project(source, target)
    kubeconfig = project / "kubeconfig.yaml"
    emulator.write_kubeconfig(kubeconfig)
    api = kubernetes.client.CoreV1Api(
        kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
    )
    secret = base64.b64encode(password.encode()).decode()
    body = {"metadata": {"name": "dagster-pg"}, "data": {"DAGSTER_PG_PASSWORD": secret}}
    try:
        api.create_namespaced_secret("default", body)
    except kubernetes.client.ApiException as error:
        assert error.status == 409  # created by an earlier test on this emulator
    path = project / "conf" / "base" / "dagster.yml"
    config = yaml.safe_load(path.read_text()) if path.exists() else {}
    config.setdefault("executors", {})["cluster"] = {
        "k8s": {
            "image": image,
            "kubeconfig_file": str(kubeconfig),
            "env_secrets": ["dagster-pg"],
            "mount_project": True,
            "image_pull_policy": "Never",
            "max_concurrent": 2,
            **(options or {}),
        }
    }
    config["runner"] = {
        "executor": "cluster",
        "instance": {"postgres": {"db_name": db_name}},
        **(runner or {}),
    }
    path.write_text(yaml.safe_dump(config))
    return project


# Containers (integration/docker): the project image, built once per session, and the emulator.

DOCKER_DIR = Path(__file__).parent / "docker"
PROJECT_IMAGE = "kdr-spaceflights:test"


@pytest.fixture(scope="session")
def project_image(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The example project's image with this checkout of the runner (docker, postgres, k8s)."""
    sys.path.insert(0, str(DOCKER_DIR))
    from harness import BASE_IMAGE, ensure_base_image, ensure_engine

    from kedro_dagster_runner.deploy.image import (
        DEFAULT_EXTRAS,
        build_project_image,
        host_constraints,
    )

    ensure_engine()
    ensure_base_image(BASE_IMAGE)
    build_project_image(
        EXAMPLE_PROJECT,
        PROJECT_IMAGE,
        BASE_IMAGE,
        runner_source=Path(__file__).parents[1],
        extras=DEFAULT_EXTRAS,
        constraints=host_constraints(),
        log=tmp_path_factory.mktemp("build") / "docker-build.log",
    )
    return PROJECT_IMAGE


@pytest.fixture
def emulator() -> Iterator:
    """The project's Kubernetes API emulator; none of its pod containers may be left after."""
    sys.path.insert(0, str(DOCKER_DIR))
    sys.path.insert(0, str(Path(__file__).parents[1]))
    from harness import containers_with_label

    from integration.k8s_emulator import K8sEmulator

    with K8sEmulator() as server:
        yield server
    assert containers_with_label(f"org.kedro-dagster-runner.k8s-emulator={server.server_id}") == []
