"""The Kubernetes API emulator, driven by the official kubernetes client and by dagster-k8s.

Needs the local Docker engine and the offline base image (both made by the docker harness).
Run: ``pytest integration/k8s_emulator -q``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import kubernetes
import pytest
from kubernetes import client

sys.path.insert(0, "/work/main/integration/docker")
from harness import BASE_IMAGE, ensure_base_image, ensure_engine

from . import EMULATOR_LABEL, K8sEmulator

NS = "default"
REPO = Path(__file__).resolve().parents[2]


def wait_for(predicate: Callable[[], object], timeout: float = 30, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[K8sEmulator]:
    ensure_engine()
    ensure_base_image()
    emulator = K8sEmulator(max_grace_seconds=1).start()
    kubeconfig = emulator.write_kubeconfig(tmp_path_factory.mktemp("kube") / "config")
    kubernetes.config.load_kube_config(config_file=str(kubeconfig))
    try:
        yield emulator
    finally:
        emulator.stop()
        left = docker.from_env().containers.list(
            all=True, filters={"label": f"{EMULATOR_LABEL}={emulator.server_id}"}
        )
        assert left == [], f"emulator containers left behind: {[c.name for c in left]}"


@pytest.fixture
def core(emulator: K8sEmulator) -> client.CoreV1Api:
    return client.CoreV1Api()


@pytest.fixture
def batch(emulator: K8sEmulator) -> client.BatchV1Api:
    return client.BatchV1Api()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_job(
    name: str,
    code: str,
    *,
    env: list | None = None,
    env_from: list | None = None,
    volumes: list | None = None,
    mounts: list | None = None,
    labels: dict | None = None,
    command: list | None = None,
    args: list | None = None,
) -> client.V1Job:
    container = client.V1Container(
        name="main",
        image=BASE_IMAGE,
        command=command if command is not None else ["python3", "-c", code],
        args=args,
        env=env,
        env_from=env_from,
        volume_mounts=mounts,
        working_dir="/tmp",
    )
    return client.V1Job(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1JobSpec(
            backoff_limit=0,
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(
                    restart_policy="Never", containers=[container], volumes=volumes
                ),
            ),
        ),
    )


def wait_job_done(batch: client.BatchV1Api, name: str, timeout: float = 60) -> client.V1JobStatus:
    def done():
        status = batch.read_namespaced_job_status(name, NS).status
        return status if (status.succeeded or status.failed) else None

    return wait_for(done, timeout, f"job {name} to finish")


def pod_log(core: client.CoreV1Api, pod: str, **kwargs) -> str:
    # The kubernetes client (v36) returns str(bytes) for text responses it preloads; read raw.
    response = core.read_namespaced_pod_log(pod, NS, _preload_content=False, **kwargs)
    return response.data.decode()


def test_version_and_discovery(emulator: K8sEmulator) -> None:
    assert client.VersionApi().get_code().major == "1"
    assert "jobs" in [r.name for r in client.BatchV1Api().get_api_resources().resources]
    assert "pods/log" in [r.name for r in client.CoreV1Api().get_api_resources().resources]
    assert client.ApisApi().get_api_versions().groups[0].name == "batch"


def test_not_found_and_already_exists(core: client.CoreV1Api, batch: client.BatchV1Api) -> None:
    with pytest.raises(client.ApiException) as raised:
        batch.read_namespaced_job_status("missing-job", NS)
    assert raised.value.status == 404
    body = json.loads(raised.value.body)
    assert (body["kind"], body["status"], body["reason"]) == ("Status", "Failure", "NotFound")

    name = unique("dup")
    secret = client.V1Secret(metadata=client.V1ObjectMeta(name=name), string_data={"k": "v"})
    core.create_namespaced_secret(NS, secret)
    with pytest.raises(client.ApiException) as raised:
        core.create_namespaced_secret(NS, secret)
    assert raised.value.status == 409
    assert json.loads(raised.value.body)["reason"] == "AlreadyExists"
    assert core.read_namespaced_secret(name, NS).data == {"k": "dg=="}
    assert name in [s.metadata.name for s in core.list_namespaced_secret(NS).items]
    core.delete_namespaced_secret(name, NS)
    with pytest.raises(client.ApiException) as raised:
        core.delete_namespaced_secret(name, NS)
    assert raised.value.status == 404


def test_job_with_secret_configmap_and_host_path(
    emulator: K8sEmulator, core: client.CoreV1Api, batch: client.BatchV1Api, tmp_path: Path
) -> None:
    secret_value = f"s3cr3t-{uuid.uuid4().hex}"
    secret, config_map, job_name = unique("creds"), unique("settings"), unique("ok")
    core.create_namespaced_secret(
        NS,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name=secret), string_data={"token": secret_value}
        ),
    )
    core.create_namespaced_config_map(
        NS,
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name=config_map), data={"MODE": "fast"}),
    )
    (tmp_path / "input.txt").write_text("from the host\n")
    code = (
        "import os, pathlib;"
        "print('token=' + os.environ['API_TOKEN']);"
        "print('mode=' + os.environ['CFG_MODE']);"
        "print('plain=' + os.environ['PLAIN']);"
        "print('cwd=' + os.getcwd());"
        "print('file=' + pathlib.Path('/data/input.txt').read_text().strip());"
        "pathlib.Path('/data/output.txt').write_text('written by the pod')"
    )
    labels = {"app": "emulator-test", "tier": job_name}
    job = make_job(
        job_name,
        code,
        env=[
            client.V1EnvVar(name="PLAIN", value="v-$(CFG_MODE)"),
            client.V1EnvVar(
                name="API_TOKEN",
                value_from=client.V1EnvVarSource(
                    secret_key_ref=client.V1SecretKeySelector(name=secret, key="token")
                ),
            ),
        ],
        env_from=[
            client.V1EnvFromSource(
                prefix="CFG_", config_map_ref=client.V1ConfigMapEnvSource(name=config_map)
            )
        ],
        volumes=[
            client.V1Volume(
                name="data", host_path=client.V1HostPathVolumeSource(path=str(tmp_path))
            )
        ],
        mounts=[client.V1VolumeMount(name="data", mount_path="/data")],
        labels=labels,
    )
    created = batch.create_namespaced_job(NS, job)
    assert created.spec.template.metadata.labels["job-name"] == job_name

    status = wait_job_done(batch, job_name)
    assert status.succeeded == 1 and not status.failed and not status.active
    assert status.start_time and status.completion_time
    assert [(c.type, c.status) for c in status.conditions] == [("Complete", "True")]

    pods = core.list_namespaced_pod(NS, label_selector=f"job-name={job_name}").items
    assert len(pods) == 1
    pod = pods[0]
    assert (
        pod.metadata.name.startswith(f"{job_name}-") and len(pod.metadata.name) == len(job_name) + 6
    )
    assert pod.metadata.labels["controller-uid"] == created.metadata.uid
    assert pod.metadata.owner_references[0].kind == "Job"
    assert pod.metadata.owner_references[0].uid == created.metadata.uid
    assert pod.status.phase == "Succeeded"
    terminated = pod.status.container_statuses[0].state.terminated
    assert (terminated.exit_code, terminated.reason) == (0, "Completed")

    log = pod_log(core, pod.metadata.name, container="main")
    assert f"token={secret_value}" in log
    assert "mode=fast" in log and "plain=v-fast" in log and "cwd=/tmp" in log
    assert "file=from the host" in log
    assert (tmp_path / "output.txt").read_text() == "written by the pod"
    assert pod_log(core, pod.metadata.name, tail_lines=1).strip() == "file=from the host"
    stamped = pod_log(core, pod.metadata.name, tail_lines=1, timestamps=True)
    assert stamped.split(" ", 1)[0].startswith("20") and stamped.endswith("file=from the host\n")

    # The secret reached the environment, never the command line.
    (container,) = [
        c for c in emulator.containers() if c.labels[f"{EMULATOR_LABEL}.job"] == job_name
    ]
    inspect = container.attrs
    assert secret_value not in json.dumps(
        [inspect["Config"]["Cmd"], inspect["Args"], inspect["Path"]]
    )
    assert inspect["HostConfig"]["NetworkMode"] == "host"

    check_selectors_and_events(core, batch, job_name, pod.metadata.name)


def check_selectors_and_events(
    core: client.CoreV1Api, batch: client.BatchV1Api, job_name: str, pod_name: str
) -> None:
    # Selectors.
    by_labels = core.list_namespaced_pod(NS, label_selector=f"app=emulator-test,tier={job_name}")
    assert [p.metadata.name for p in by_labels.items] == [pod_name]
    assert core.list_namespaced_pod(NS, label_selector=f"app=other,tier={job_name}").items == []
    by_set = core.list_namespaced_pod(NS, label_selector=f"tier in ({job_name},x),!nonexistent")
    assert len(by_set.items) == 1
    jobs = batch.list_namespaced_job(NS, field_selector=f"metadata.name={job_name}").items
    assert [j.metadata.name for j in jobs] == [job_name]
    assert batch.list_namespaced_job(NS, field_selector="metadata.name=nope").items == []
    by_field = core.list_namespaced_pod(NS, field_selector=f"metadata.name={pod_name}")
    assert len(by_field.items) == 1

    # Events.
    pod_events = core.list_namespaced_event(
        NS, field_selector=f"involvedObject.name={pod_name}"
    ).items
    assert {"Scheduled", "Started"} <= {e.reason for e in pod_events}
    job_events = core.list_namespaced_event(
        NS, field_selector=f"involvedObject.name={job_name}"
    ).items
    assert [e.reason for e in job_events] == ["SuccessfulCreate", "Completed"]
    assert all(e.involved_object.kind == "Job" and e.type == "Normal" for e in job_events)


def test_failing_job(core: client.CoreV1Api, batch: client.BatchV1Api) -> None:
    name = unique("fail")
    batch.create_namespaced_job(
        NS, make_job(name, "import sys; print('about to fail'); sys.exit(3)")
    )
    status = wait_job_done(batch, name)
    assert status.failed == 1 and not status.succeeded and not status.active
    assert status.completion_time is None
    assert [(c.type, c.status, c.reason) for c in status.conditions] == [
        ("Failed", "True", "BackoffLimitExceeded")
    ]
    (pod,) = core.list_namespaced_pod(NS, label_selector=f"job-name={name}").items
    assert pod.status.phase == "Failed"
    terminated = pod.status.container_statuses[0].state.terminated
    assert (terminated.exit_code, terminated.reason) == (3, "Error")
    assert "about to fail" in pod_log(core, pod.metadata.name)
    events = core.list_namespaced_event(NS, field_selector=f"involvedObject.name={name}").items
    assert ("BackoffLimitExceeded", "Warning") in {(e.reason, e.type) for e in events}


def test_missing_secret_blocks_until_created(
    core: client.CoreV1Api, batch: client.BatchV1Api
) -> None:
    name, secret = unique("wait"), unique("late")
    env = [
        client.V1EnvVar(
            name="X",
            value_from=client.V1EnvVarSource(
                secret_key_ref=client.V1SecretKeySelector(name=secret, key="x")
            ),
        )
    ]
    batch.create_namespaced_job(NS, make_job(name, "import os; print(os.environ['X'])", env=env))

    def config_error():
        pods = core.list_namespaced_pod(NS, label_selector=f"job-name={name}").items
        statuses = pods[0].status.container_statuses if pods else None
        waiting = statuses[0].state.waiting if statuses else None
        return waiting if waiting and waiting.reason == "CreateContainerConfigError" else None

    waiting = wait_for(config_error, 15, "CreateContainerConfigError")
    assert f'secret "{secret}" not found' in waiting.message
    core.create_namespaced_secret(
        NS, client.V1Secret(metadata=client.V1ObjectMeta(name=secret), string_data={"x": "late"})
    )
    assert wait_job_done(batch, name).succeeded == 1


def test_delete_job_removes_pod_and_container(
    emulator: K8sEmulator, core: client.CoreV1Api, batch: client.BatchV1Api
) -> None:
    name = unique("long")
    batch.create_namespaced_job(
        NS, make_job(name, "import time; print('up', flush=True); time.sleep(120)")
    )

    def running_pod():
        pods = core.list_namespaced_pod(NS, label_selector=f"job-name={name}").items
        return pods[0] if pods and pods[0].status.phase == "Running" else None

    pod = wait_for(running_pod, 30, "a running pod")
    assert batch.read_namespaced_job_status(name, NS).status.active == 1
    wait_for(lambda: "up" in pod_log(core, pod.metadata.name), 15, "the pod's log")

    def containers():
        return [c for c in emulator.containers() if c.labels[f"{EMULATOR_LABEL}.job"] == name]

    assert len(containers()) == 1
    batch.delete_namespaced_job(
        name, NS, body=client.V1DeleteOptions(propagation_policy="Background")
    )
    with pytest.raises(client.ApiException) as raised:
        batch.read_namespaced_job(name, NS)
    assert raised.value.status == 404
    assert core.list_namespaced_pod(NS, label_selector=f"job-name={name}").items == []
    wait_for(lambda: not containers(), 20, "the job's container to be removed")


def test_dagster_kubernetes_client(core: client.CoreV1Api, batch: client.BatchV1Api) -> None:
    from dagster_k8s.client import DagsterK8sError, DagsterKubernetesClient, WaitForPodState

    api = DagsterKubernetesClient.production_client()

    ok = unique("dg-ok")
    api.create_namespaced_job_with_retries(
        body=make_job(ok, "print('hello from dagster test')"), namespace=NS
    )
    api.wait_for_job_success(ok, NS, wait_timeout=60, wait_time_between_attempts=0.2)
    (pod_name,) = api.get_pod_names_in_job(ok, NS)
    api.wait_for_pod(
        pod_name, NS, wait_for_state=WaitForPodState.Terminated, wait_time_between_attempts=0.2
    )
    assert "hello from dagster test" in api.retrieve_pod_logs(pod_name, NS)
    assert "Pod status: Succeeded" in api.get_pod_debug_info(pod_name, NS)
    assert "succeeded=1" in api.get_job_debug_info(ok, NS)

    bad = unique("dg-bad")
    api.create_namespaced_job_with_retries(
        body=make_job(bad, "import sys; sys.exit(3)"), namespace=NS
    )
    with pytest.raises(DagsterK8sError, match="Encountered failed job pods"):
        api.wait_for_job_success(bad, NS, wait_timeout=60, wait_time_between_attempts=0.2)
    assert api.get_job_status(bad, NS).failed == 1
    assert api.get_job_status("no-such-job", NS) is None

    assert api.delete_job(ok, NS) is True
    assert api.delete_job(bad, NS) is True
    assert api.get_job_status(ok, NS) is None
    assert api.get_pod_names_in_job(bad, NS) == []


def test_command_line(tmp_path: Path) -> None:
    ensure_engine()
    kubeconfig = tmp_path / "kubeconfig"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "integration.k8s_emulator",
            "--port",
            "0",
            "--kubeconfig",
            str(kubeconfig),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(f"{url}/version", timeout=10) as response:
            assert json.load(response)["major"] == "1"
        assert url in kubeconfig.read_text() or wait_for(lambda: url in kubeconfig.read_text(), 5)
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0


def test_default_job_delete_orphans_pods(
    emulator: K8sEmulator, core: client.CoreV1Api, batch: client.BatchV1Api
) -> None:
    """Like a real API server: deleting a batch/v1 Job without a policy orphans its pods."""
    name = unique("orphan")
    batch.create_namespaced_job(NS, make_job(name, "import time; time.sleep(120)"))
    pod = wait_for(
        lambda: core.list_namespaced_pod(NS, label_selector=f"job-name={name}").items, 15, "pod"
    )[0]
    batch.delete_namespaced_job(name, NS)
    orphan = core.read_namespaced_pod(pod.metadata.name, NS)
    assert orphan.metadata.owner_references is None
    core.delete_namespaced_pod(pod.metadata.name, NS, grace_period_seconds=0)
    with pytest.raises(client.ApiException) as raised:
        core.read_namespaced_pod(pod.metadata.name, NS)
    assert raised.value.status == 404
    wait_for(
        lambda: not [c for c in emulator.containers() if c.labels[f"{EMULATOR_LABEL}.job"] == name],
        20,
        "the orphan's container to be removed",
    )


def test_dagster_built_job_manifest(
    emulator: K8sEmulator, core: client.CoreV1Api, tmp_path: Path
) -> None:
    """The manifest construct_dagster_k8s_job builds (args only, envFrom, hostPath, labels) runs."""
    from dagster_k8s.client import DagsterKubernetesClient
    from dagster_k8s.job import DagsterK8sJobConfig, construct_dagster_k8s_job
    from dagster_k8s.launcher import K8sRunLauncher

    kubeconfig = emulator.write_kubeconfig(tmp_path / "kubeconfig")
    launcher = K8sRunLauncher(  # talks to the emulator at init: load_kube_config + clients
        service_account_name="default",
        instance_config_map="dagster-instance",
        dagster_home=str(tmp_path),
        job_image=BASE_IMAGE,
        load_incluster_config=False,
        kubeconfig_file=str(kubeconfig),
        job_namespace=NS,
    )
    assert launcher.kubeconfig_file == str(kubeconfig)

    secret, config_map = unique("dg-secret"), unique("dg-cm")
    core.create_namespaced_secret(
        NS, client.V1Secret(metadata=client.V1ObjectMeta(name=secret), data={"PG_PW": "cHc="})
    )
    core.create_namespaced_config_map(
        NS, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=config_map), data={"CM": "c"})
    )
    job_config = DagsterK8sJobConfig(
        job_image=BASE_IMAGE,
        dagster_home="/opt/dagster/dagster_home",
        image_pull_policy="IfNotPresent",
        service_account_name="default",
        instance_config_map="dagster-instance",
        env_config_maps=[config_map],
        env_secrets=[secret],
        env_vars=["FOO=bar"],
        volumes=[{"name": "home", "host_path": {"path": str(tmp_path)}}],
        volume_mounts=[{"name": "home", "mount_path": "/opt/dagster/dagster_home"}],
    )
    code = (
        "import os, pathlib;"
        "home = pathlib.Path(os.environ['DAGSTER_HOME']);"
        "(home / 'seen.txt').write_text(' '.join(os.environ[k] for k in ('PG_PW', 'CM', 'FOO')))"
    )
    name = unique("dagster-step")
    job = construct_dagster_k8s_job(
        job_config,
        args=["python3", "-c", code],
        job_name=name,
        pod_name=name,
        component="step_worker",
        labels={"dagster/op": "my_op", "dagster/run-id": "r1"},
    )
    api = DagsterKubernetesClient.production_client()
    api.create_namespaced_job_with_retries(body=job, namespace=NS)
    api.wait_for_job_success(name, NS, wait_timeout=60, wait_time_between_attempts=0.2)
    assert (tmp_path / "seen.txt").read_text() == "pw c bar"
    (pod,) = api.get_pods_in_job(name, NS)
    assert pod.metadata.labels["dagster/op"] == "my_op"
    assert pod.metadata.labels["app.kubernetes.io/component"] == "step_worker"
    assert api.delete_job(name, NS) is True


def test_parallel_jobs_with_secret_and_empty_dir_volumes(
    core: client.CoreV1Api, batch: client.BatchV1Api
) -> None:
    secret = unique("files")
    core.create_namespaced_secret(
        NS, client.V1Secret(metadata=client.V1ObjectMeta(name=secret), string_data={"a.txt": "A"})
    )
    code = (
        "import pathlib;"
        "pathlib.Path('/scratch/x').write_text('ok');"
        "print(pathlib.Path('/secret/renamed.txt').read_text()"
        " + pathlib.Path('/scratch/x').read_text())"
    )
    volumes = [
        client.V1Volume(
            name="secret",
            secret=client.V1SecretVolumeSource(
                secret_name=secret, items=[client.V1KeyToPath(key="a.txt", path="renamed.txt")]
            ),
        ),
        client.V1Volume(name="scratch", empty_dir=client.V1EmptyDirVolumeSource()),
    ]
    mounts = [
        client.V1VolumeMount(name="secret", mount_path="/secret"),
        client.V1VolumeMount(name="scratch", mount_path="/scratch"),
    ]
    names = [unique(f"par{i}") for i in range(4)]
    for name in names:
        batch.create_namespaced_job(NS, make_job(name, code, volumes=volumes, mounts=mounts))
    for name in names:
        assert wait_job_done(batch, name).succeeded == 1
        (pod,) = core.list_namespaced_pod(NS, label_selector=f"job-name={name}").items
        assert pod_log(core, pod.metadata.name).strip() == "Aok"


def test_unsupported_volume_is_rejected(batch: client.BatchV1Api) -> None:
    volume = client.V1Volume(
        name="claim",
        persistent_volume_claim=client.V1PersistentVolumeClaimVolumeSource(claim_name="c"),
    )
    with pytest.raises(client.ApiException) as raised:
        batch.create_namespaced_job(NS, make_job(unique("pvc"), "pass", volumes=[volume]))
    assert raised.value.status == 422
    assert "persistentVolumeClaim" in json.loads(raised.value.body)["message"]


def test_fail_job_deletes_answers_500_and_keeps_the_job(
    emulator: K8sEmulator, core: client.CoreV1Api, batch: client.BatchV1Api
) -> None:
    """The fault-injection switch: Job deletion fails with 500, the Job and its pod stay."""
    name = unique("undeletable")
    batch.create_namespaced_job(NS, make_job(name, "print('done')"))
    assert wait_job_done(batch, name).succeeded == 1
    emulator.fail_job_deletes = True
    try:
        for policy in ("Foreground", None):
            with pytest.raises(client.ApiException) as raised:
                batch.delete_namespaced_job(name, NS, propagation_policy=policy)
            assert raised.value.status == 500
            body = json.loads(raised.value.body)
            assert (body["kind"], body["reason"], body["code"]) == ("Status", "InternalError", 500)
            assert f'jobs.batch "{name}"' in body["message"]
        with pytest.raises(client.ApiException) as raised:
            batch.delete_namespaced_job(unique("missing"), NS)
        assert raised.value.status == 404  # the switch only fails deletion of existing Jobs
        assert emulator.refused_job_deletes[-2:] == [name, name]
        assert batch.read_namespaced_job_status(name, NS).status.succeeded == 1
        assert len(core.list_namespaced_pod(NS, label_selector=f"job-name={name}").items) == 1
    finally:
        emulator.fail_job_deletes = False
    batch.delete_namespaced_job(name, NS, propagation_policy="Background")
    with pytest.raises(client.ApiException) as raised:
        batch.read_namespaced_job(name, NS)
    assert raised.value.status == 404
    assert core.list_namespaced_pod(NS, label_selector=f"job-name={name}").items == []
