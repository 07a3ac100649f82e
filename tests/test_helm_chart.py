"""Offline checks of the Helm chart in charts/kedro-dagster-runner.

No cluster and no network: helm-python-sdk (Helm's Go SDK in a wheel) lints and renders the
chart, kubernetes-validate checks every rendered manifest against the Kubernetes OpenAPI schemas
in strict mode (unknown fields are errors), and Dagster's own config schemas check the
instance's dagster.yaml. dagster-k8s then builds, from that instance, the Job it would create for
one step, which is validated the same way.
"""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

CHART_DIR = Path(__file__).resolve().parents[1] / "charts" / "kedro-dagster-runner"
KUBE_VERSION = "1.30.0"
RELEASE = "proj"
NAMESPACE = "kedro"
FULLNAME = f"{RELEASE}-kedro-dagster-runner"
CONFIG_MAP = f"{FULLNAME}-instance"
CREATED_SECRET = f"{FULLNAME}-postgresql"
PASSWORD = "Pg-s3cret-9f27c1"  # distinctive, so it can be searched for in the rendered text

KEDRO_RUN = ["kedro", "run", "--runner", "kedro_dagster_runner.DagsterRunner"]
EXTRA_ARGS = [
    "--pipelines",
    "data_processing",
    "--tags",
    "daily,reporting",
    "--params",
    "run_date=2024-01-01,model.alpha=0.5",
]

VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "password": {"postgresql": {"password": PASSWORD}},
    "existing_secret": {
        "postgresql": {
            "existingSecret": "pg-credentials",
            "existingSecretKey": "DAGSTER_PG_PASSWORD",
        }
    },
    "existing_secret_other_key": {
        "postgresql": {
            "existingSecret": "dagster-postgresql-secret",
            "existingSecretKey": "postgresql-password",
        }
    },
    "cron_job": {
        "postgresql": {"password": PASSWORD},
        "cronJob": {
            "enabled": True,
            "schedule": "*/30 * * * *",
            "timeZone": "Europe/Paris",
            "startingDeadlineSeconds": 300,
        },
    },
    "no_rbac": {
        "serviceAccount": {"create": False, "name": "kedro-runner"},
        "rbac": {"create": False},
    },
    "extra_args": {
        "kedro": {
            "env": "prod",
            "runnerParams": "executor=k8s,instance=dagster_home",
            "extraArgs": EXTRA_ARGS,
            "projectDir": "/home/kedro/project",
        }
    },
    "pull_secrets": {
        "image": {
            "repository": "registry.example.com/team/spaceflights",
            "tag": "1.2.3",
            "pullPolicy": "Always",
            "pullSecrets": ["regcred", {"name": "mirror-cred"}],
        }
    },
    "everything": {
        "postgresql": {
            "password": PASSWORD,
            "host": "pg.data.svc.cluster.local",
            "port": 6432,
            "database": "dagster_prod",
            "username": "runner",
            "params": {"sslmode": "require"},
        },
        "env": [
            {"name": "KEDRO_LOGGING_CONFIG", "value": "conf/logging.yml"},
            {
                "name": "AWS_PROFILE",
                "valueFrom": {"secretKeyRef": {"name": "aws", "key": "profile"}},
            },
        ],
        "envFrom": {"secrets": ["catalog-credentials"], "configMaps": ["catalog-settings"]},
        "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}},
        "nodeSelector": {"pool": "kedro"},
        "tolerations": [{"key": "batch", "operator": "Exists", "effect": "NoSchedule"}],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {"key": "arch", "operator": "In", "values": ["amd64"]}
                            ]
                        }
                    ]
                }
            }
        },
        "podLabels": {"team": "data"},
        "podAnnotations": {"example.com/owner": "data-team"},
        "podSecurityContext": {"runAsNonRoot": False},
        "extraVolumes": [
            {"name": "handoff", "persistentVolumeClaim": {"claimName": "kedro-handoff"}}
        ],
        "extraVolumeMounts": [{"name": "handoff", "mountPath": "/mnt/handoff"}],
        "job": {"ttlSecondsAfterFinished": None, "activeDeadlineSeconds": 7200},
        "stepPods": {
            "resources": {"requests": {"cpu": "1", "memory": "2Gi"}},
            "labels": {"team": "data"},
            "imagePullPolicy": "Always",
        },
        "dagster": {"instanceExtra": {"run_retries": {"enabled": False}}},
    },
}


# --- helpers -----------------------------------------------------------------------------------


def render(values: dict[str, Any] | None = None) -> dict[str, str]:
    """Template path -> rendered text, as `helm template` would print it."""
    with helm.Chart.load(CHART_DIR) as chart:
        return chart.render(
            copy.deepcopy(values) if values else None,
            name=RELEASE,
            namespace=NAMESPACE,
            is_install=True,
        )


def manifests(values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path, text in sorted(render(values).items()):
        if path.endswith((".yaml", ".yml")):
            docs.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return docs


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = of_kind(docs, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def job_spec(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The spec of the driver Job, whether rendered as a Job or as a CronJob's template."""
    cron_jobs = of_kind(docs, "CronJob")
    if cron_jobs:
        assert not of_kind(docs, "Job")
        return cron_jobs[0]["spec"]["jobTemplate"]["spec"]
    return one(docs, "Job")["spec"]


def pod_spec(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return job_spec(docs)["template"]["spec"]


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    containers = pod_spec(docs)["containers"]
    assert len(containers) == 1
    return containers[0]


def env_of(container_spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    entries = container_spec.get("env", [])
    names = [entry["name"] for entry in entries]
    assert len(names) == len(set(names)), f"duplicate env names: {names}"
    return {entry["name"]: entry for entry in entries}


def instance_yaml(docs: list[dict[str, Any]]) -> dict[str, Any]:
    config_map = one(docs, "ConfigMap")
    assert config_map["metadata"]["name"] == CONFIG_MAP
    assert set(config_map["data"]) == {"dagster.yaml"}
    parsed = yaml.safe_load(config_map["data"]["dagster.yaml"])
    assert isinstance(parsed, dict)
    return parsed


def expected_secret(values: dict[str, Any]) -> tuple[str, str]:
    postgresql = values.get("postgresql", {})
    if postgresql.get("existingSecret"):
        return postgresql["existingSecret"], postgresql["existingSecretKey"]
    return CREATED_SECRET, "DAGSTER_PG_PASSWORD"


# --- lint --------------------------------------------------------------------------------------


def test_chart_metadata() -> None:
    with helm.Chart.load(CHART_DIR) as chart:
        metadata = chart.metadata
        defaults = chart.values
    assert metadata["apiVersion"] == "v2"
    assert metadata["name"] == "kedro-dagster-runner"
    assert metadata["type"] == "application"
    assert defaults["kedro"]["env"] == "k8s"
    assert defaults["job"]["backoffLimit"] == 0
    assert defaults["postgresql"]["password"] == ""


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_chart_lints_without_errors_or_warnings(variant: str) -> None:
    report = helm.lint(
        CHART_DIR,
        copy.deepcopy(VARIANTS[variant]) or None,
        strict=True,
        namespace=NAMESPACE,
        kube_version=f"v{KUBE_VERSION}",
    )
    assert report["total_charts_linted"] == 1
    assert report["errors"] == []
    # severity 1 is informational ("icon is recommended"); 2 is a warning, 3 an error
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_lint_reports_a_broken_template(tmp_path: Path) -> None:
    """The lint call above really lints: a template error in a copy of the chart is reported."""
    broken = tmp_path / "kedro-dagster-runner"
    with helm.Chart.load(CHART_DIR) as chart:
        chart.save_dir(tmp_path)
    (broken / "templates" / "broken.yaml").write_text("{{ .Values.nothing.here }}\n")
    report = helm.lint(broken)
    assert report["errors"]
    assert any("nothing" in error for error in report["errors"])


# --- schema ------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_rendered_manifests_pass_strict_schema_validation(variant: str) -> None:
    docs = manifests(VARIANTS[variant])
    assert docs
    for doc in docs:
        label = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{variant}: {label} fails the {KUBE_VERSION} schema: {exc.message}")
        assert doc["metadata"]["namespace"] == NAMESPACE, label


def test_strict_validation_rejects_unknown_fields() -> None:
    """Strict mode is what catches a misspelt field; make sure it is really on."""
    job = copy.deepcopy(one(manifests(), "Job"))
    job["spec"]["template"]["spec"]["containers"][0]["comand"] = ["kedro"]
    with pytest.raises(kubernetes_validate.ValidationError, match="comand"):
        kubernetes_validate.validate(job, KUBE_VERSION, strict=True)


@pytest.mark.parametrize(
    ("variant", "kinds"),
    [
        ("defaults", {"ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Secret", "Job"}),
        ("existing_secret", {"ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Job"}),
        ("cron_job", {"ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Secret", "CronJob"}),
        ("no_rbac", {"ConfigMap", "Secret", "Job"}),
    ],
)
def test_rendered_objects(variant: str, kinds: set[str]) -> None:
    docs = manifests(VARIANTS[variant])
    assert sorted(doc["kind"] for doc in docs) == sorted(kinds)


# --- the driver Job ----------------------------------------------------------------------------


def test_job_runs_kedro_with_dagster_runner() -> None:
    docs = manifests()
    job = one(docs, "Job")
    assert job["apiVersion"] == "batch/v1"
    assert job["metadata"]["name"] == f"{FULLNAME}-1"  # the release revision: one Job per upgrade
    main = container(docs)
    assert main["command"] == [*KEDRO_RUN, "--env", "k8s"]
    assert "args" not in main
    assert main["image"] == "my-kedro-project:latest"
    assert main["imagePullPolicy"] == "IfNotPresent"
    assert "workingDir" not in main


def test_job_passes_extra_kedro_arguments() -> None:
    main = container(manifests(VARIANTS["extra_args"]))
    assert main["command"] == [
        *KEDRO_RUN,
        "--env",
        "prod",
        "--runner-params",
        "executor=k8s,instance=dagster_home",
        *EXTRA_ARGS,
    ]
    assert main["workingDir"] == "/home/kedro/project"


def test_job_spec_defaults() -> None:
    docs = manifests()
    spec = job_spec(docs)
    assert spec["backoffLimit"] == 0
    assert spec["ttlSecondsAfterFinished"] == 86400
    assert "activeDeadlineSeconds" not in spec
    pod = pod_spec(docs)
    assert pod["restartPolicy"] == "Never"
    assert pod["serviceAccountName"] == FULLNAME
    assert pod["automountServiceAccountToken"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert "imagePullSecrets" not in pod
    main = container(docs)
    assert main["securityContext"]["allowPrivilegeEscalation"] is False
    env = env_of(main)
    assert env["DAGSTER_HOME"] == {"name": "DAGSTER_HOME", "value": "/opt/dagster/dagster_home"}
    assert env["KEDRO_DISABLE_TELEMETRY"] == {"name": "KEDRO_DISABLE_TELEMETRY", "value": "true"}
    # DAGSTER_HOME is a writable emptyDir with dagster.yaml mounted from the instance ConfigMap
    mounts = {mount["mountPath"]: mount for mount in main["volumeMounts"]}
    assert mounts["/opt/dagster/dagster_home"]["name"] == "dagster-home"
    yaml_mount = mounts["/opt/dagster/dagster_home/dagster.yaml"]
    assert yaml_mount["subPath"] == "dagster.yaml"
    assert yaml_mount["readOnly"] is True
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert volumes["dagster-home"] == {"name": "dagster-home", "emptyDir": {}}
    assert volumes[yaml_mount["name"]]["configMap"]["name"] == CONFIG_MAP


def test_job_takes_values_for_env_scheduling_and_security() -> None:
    docs = manifests(VARIANTS["everything"])
    values = VARIANTS["everything"]
    spec = job_spec(docs)
    assert "ttlSecondsAfterFinished" not in spec
    assert spec["activeDeadlineSeconds"] == 7200
    pod = pod_spec(docs)
    # Helm merges the override into the default map: seccompProfile stays
    assert pod["securityContext"] == {
        "runAsNonRoot": False,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert pod["nodeSelector"] == values["nodeSelector"]
    assert pod["tolerations"] == values["tolerations"]
    assert pod["affinity"] == values["affinity"]
    metadata = job_spec(docs)["template"]["metadata"]
    assert metadata["labels"]["team"] == "data"
    assert metadata["annotations"] == values["podAnnotations"]
    main = container(docs)
    assert main["resources"] == values["resources"]
    env = env_of(main)
    for entry in values["env"]:
        assert env[entry["name"]] == entry
    assert main["envFrom"] == [
        {"configMapRef": {"name": "catalog-settings"}},
        {"secretRef": {"name": "catalog-credentials"}},
    ]
    assert {"name": "handoff", "mountPath": "/mnt/handoff"} in main["volumeMounts"]
    assert values["extraVolumes"][0] in pod["volumes"]


def test_cron_job_mode() -> None:
    docs = manifests(VARIANTS["cron_job"])
    cron_job = one(docs, "CronJob")
    assert cron_job["apiVersion"] == "batch/v1"
    assert cron_job["metadata"]["name"] == FULLNAME
    assert cron_job["spec"]["schedule"] == "*/30 * * * *"
    assert cron_job["spec"]["timeZone"] == "Europe/Paris"
    assert cron_job["spec"]["concurrencyPolicy"] == "Forbid"
    assert cron_job["spec"]["startingDeadlineSeconds"] == 300
    assert job_spec(docs)["backoffLimit"] == 0
    assert container(docs)["command"] == [*KEDRO_RUN, "--env", "k8s"]


def test_image_and_pull_secrets() -> None:
    docs = manifests(VARIANTS["pull_secrets"])
    main = container(docs)
    assert main["image"] == "registry.example.com/team/spaceflights:1.2.3"
    assert main["imagePullPolicy"] == "Always"
    expected = [{"name": "regcred"}, {"name": "mirror-cred"}]
    assert pod_spec(docs)["imagePullSecrets"] == expected
    launcher = instance_yaml(docs)["run_launcher"]["config"]
    assert launcher["image_pull_secrets"] == expected
    assert launcher["job_image"] == "registry.example.com/team/spaceflights:1.2.3"
    assert launcher["image_pull_policy"] == "Always"

    digest = "sha256:" + "ab" * 32
    pinned = container(manifests({"image": {"repository": "reg/app", "digest": digest}}))
    assert pinned["image"] == f"reg/app@{digest}"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"image": {"repository": ""}}, "image.repository is required"),
        ({"image": {"tag": None}}, "image.tag (or image.digest) is required"),
        ({"kedro": {"env": ""}}, "kedro.env is required"),
        (
            {"postgresql": {"existingSecret": "pg", "existingSecretKey": ""}},
            "postgresql.existingSecretKey must name the key",
        ),
    ],
)
def test_missing_required_values_fail_the_render(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmRenderError) as excinfo:
        render(values)
    assert message in str(excinfo.value)


# --- RBAC --------------------------------------------------------------------------------------


def test_role_grants_exactly_what_the_step_executor_needs() -> None:
    docs = manifests()
    role = one(docs, "Role")
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    expected = {
        *(("batch", "jobs", verb) for verb in ("create", "get", "list", "watch", "delete")),
        # dagster-k8s reads step Job status with read_namespaced_job_status: the subresource
        ("batch", "jobs/status", "get"),
        *(("", "pods", verb) for verb in ("get", "list", "watch", "delete")),
        ("", "pods/log", "get"),
        *(("", "events", verb) for verb in ("get", "list", "watch")),
    }
    assert granted == expected
    assert all("resourceNames" not in rule for rule in role["rules"])

    binding = one(docs, "RoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    account = one(docs, "ServiceAccount")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": NAMESPACE}
    ]
    assert pod_spec(docs)["serviceAccountName"] == account["metadata"]["name"]


def test_existing_service_account_without_rbac() -> None:
    docs = manifests(VARIANTS["no_rbac"])
    assert not of_kind(docs, "ServiceAccount")
    assert not of_kind(docs, "Role")
    assert not of_kind(docs, "RoleBinding")
    assert pod_spec(docs)["serviceAccountName"] == "kedro-runner"
    assert instance_yaml(docs)["run_launcher"]["config"]["service_account_name"] == "kedro-runner"


# --- the password ------------------------------------------------------------------------------


def assert_password_only_via_secret_ref(variant: str) -> None:
    values = VARIANTS[variant]
    docs = manifests(values)
    secret_name, secret_key = expected_secret(values)

    env = env_of(container(docs))
    assert env["DAGSTER_PG_PASSWORD"] == {
        "name": "DAGSTER_PG_PASSWORD",
        "valueFrom": {"secretKeyRef": {"name": secret_name, "key": secret_key}},
    }
    password = values.get("postgresql", {}).get("password")
    database = instance_yaml(docs)["storage"]["postgres"]["postgres_db"]
    assert database["password"] == {"env": "DAGSTER_PG_PASSWORD"}
    for config_map in of_kind(docs, "ConfigMap"):
        for text in config_map["data"].values():
            if password:
                assert password not in text
                assert base64.b64encode(password.encode()).decode() not in text
    main = container(docs)
    for word in [*main.get("command", []), *main.get("args", [])]:
        assert "DAGSTER_PG_PASSWORD" not in word
        if password:
            assert password not in word
    for entry in env.values():
        if password:
            assert entry.get("value") != password

    secrets = of_kind(docs, "Secret")
    if values.get("postgresql", {}).get("existingSecret"):
        assert secrets == []
    else:
        (secret,) = secrets
        assert secret["metadata"]["name"] == secret_name
        assert set(secret["data"]) == {"DAGSTER_PG_PASSWORD"}
        assert base64.b64decode(secret["data"]["DAGSTER_PG_PASSWORD"]).decode() == (password or "")
    if password:
        # the literal password is nowhere in the rendered output, NOTES.txt included
        for path, text in render(values).items():
            assert password not in text, path


@pytest.mark.parametrize(
    "variant",
    ["defaults", "password", "existing_secret", "existing_secret_other_key", "cron_job"],
)
def test_password_reaches_the_driver_only_through_the_secret(variant: str) -> None:
    assert_password_only_via_secret_ref(variant)


def test_notes_warn_about_an_empty_password_only() -> None:
    assert (
        "WARNING: postgresql.password is empty"
        in render()["kedro-dagster-runner/templates/NOTES.txt"]
    )
    for variant in ("password", "existing_secret"):
        notes = render(VARIANTS[variant])["kedro-dagster-runner/templates/NOTES.txt"]
        assert "WARNING" not in notes


# --- the Dagster instance ----------------------------------------------------------------------


def test_instance_uses_postgres_and_the_k8s_run_launcher() -> None:
    instance = instance_yaml(manifests(VARIANTS["password"]))
    assert instance["storage"] == {
        "postgres": {
            "postgres_db": {
                "username": "dagster",
                "password": {"env": "DAGSTER_PG_PASSWORD"},
                "hostname": "postgresql",
                "db_name": "dagster",
                "port": 5432,
                "params": {},
                "scheme": "postgresql+psycopg2",
            }
        }
    }
    assert instance["telemetry"] == {"enabled": False}
    assert instance["nux"] == {"enabled": False}
    launcher = instance["run_launcher"]
    assert launcher["module"] == "dagster_k8s"
    assert launcher["class"] == "K8sRunLauncher"
    config = launcher["config"]
    assert config["load_incluster_config"] is True
    assert "kubeconfig_file" not in config
    assert config["job_namespace"] == NAMESPACE
    assert config["service_account_name"] == FULLNAME
    assert config["image_pull_policy"] == "IfNotPresent"
    assert config["job_image"] == "my-kedro-project:latest"
    assert config["instance_config_map"] == CONFIG_MAP
    assert config["dagster_home"] == "/opt/dagster/dagster_home"
    assert config["env_secrets"] == [CREATED_SECRET]
    assert "KEDRO_DISABLE_TELEMETRY=true" in config["env_vars"]


def test_instance_follows_postgres_values_and_keeps_its_own_keys() -> None:
    docs = manifests(
        {
            **VARIANTS["everything"],
            "dagster": {
                "instanceExtra": {
                    "storage": {"sqlite": {"base_dir": "/tmp"}},  # ignored: the chart's wins
                    "run_retries": {"enabled": False},
                }
            },
        }
    )
    instance = instance_yaml(docs)
    database = instance["storage"]["postgres"]["postgres_db"]
    assert database["hostname"] == "pg.data.svc.cluster.local"
    assert database["port"] == 6432
    assert database["db_name"] == "dagster_prod"
    assert database["username"] == "runner"
    assert database["params"] == {"sslmode": "require"}
    assert database["password"] == {"env": "DAGSTER_PG_PASSWORD"}
    assert instance["run_retries"] == {"enabled": False}
    config = instance["run_launcher"]["config"]
    assert config["env_secrets"] == [CREATED_SECRET, "catalog-credentials"]
    assert config["env_config_maps"] == ["catalog-settings"]
    assert config["resources"] == VARIANTS["everything"]["stepPods"]["resources"]
    assert config["image_pull_policy"] == "Always"


def test_instance_scheme_can_be_left_to_dagster() -> None:
    instance = instance_yaml(manifests({"postgresql": {"scheme": ""}}))
    assert "scheme" not in instance["storage"]["postgres"]["postgres_db"]


def test_existing_secret_with_another_key_reaches_step_pods_by_reference() -> None:
    config = instance_yaml(manifests(VARIANTS["existing_secret_other_key"]))["run_launcher"][
        "config"
    ]
    assert "env_secrets" not in config  # envFrom would expose the key under its own name
    assert config["run_k8s_config"]["container_config"]["env"] == [
        {
            "name": "DAGSTER_PG_PASSWORD",
            "valueFrom": {
                "secretKeyRef": {"name": "dagster-postgresql-secret", "key": "postgresql-password"}
            },
        }
    ]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_dagster_accepts_the_instance_yaml(variant: str, tmp_path: Path) -> None:
    from dagster._config import process_config
    from dagster._core.instance.config import dagster_instance_config
    from dagster_k8s import K8sRunLauncher

    config_map = one(manifests(VARIANTS[variant]), "ConfigMap")
    (tmp_path / "dagster.yaml").write_text(config_map["data"]["dagster.yaml"])
    instance, custom_class = dagster_instance_config(str(tmp_path))
    assert custom_class is None
    assert set(instance["storage"]) == {"postgres"}
    launcher = process_config(K8sRunLauncher.config_type(), instance["run_launcher"]["config"])
    assert launcher.success, launcher.errors


# --- step pods, as dagster-k8s would build them from the instance ------------------------------


def step_job(variant: str, tmp_path: Path) -> dict[str, Any]:
    """The Job dagster-k8s's step executor would create for one step, from this instance.

    The run launcher is built from the rendered config with only the way it reaches the API
    changed (a kubeconfig file pointing at an address that is never contacted, instead of the
    in-cluster config that only exists inside a pod); nothing here talks to a server.
    """
    import kubernetes
    from dagster._config import process_config
    from dagster._core.storage.dagster_run import DagsterRun
    from dagster_k8s import K8sRunLauncher
    from dagster_k8s.container_context import K8sContainerContext
    from dagster_k8s.job import construct_dagster_k8s_job

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "none", "cluster": {"server": "https://127.0.0.1:9"}}],
                "users": [{"name": "none", "user": {"token": "unused"}}],
                "contexts": [{"name": "none", "context": {"cluster": "none", "user": "none"}}],
                "current-context": "none",
            }
        )
    )
    config = dict(instance_yaml(manifests(VARIANTS[variant]))["run_launcher"]["config"])
    config.update(load_incluster_config=False, kubeconfig_file=str(kubeconfig))
    processed = process_config(K8sRunLauncher.config_type(), config)
    assert processed.success, processed.errors
    launcher = K8sRunLauncher.from_config_value(None, processed.value)

    run = DagsterRun(job_name="kedro_job", run_id="6c0f3a52-1d0e-4c6b-9d7e-0a1b2c3d4e5f")
    context = K8sContainerContext.create_for_run(run, launcher, include_run_tags=False)
    job = construct_dagster_k8s_job(
        job_config=context.get_k8s_job_config(None, launcher),
        args=["dagster", "api", "execute_step"],
        job_name="dagster-step-0123456789abcdef",
        pod_name="dagster-step-0123456789abcdef",
        component="step_worker",
        user_defined_k8s_config=context.run_k8s_config,
        labels={"dagster/op": "preprocess_companies_node"},
        env_vars=[{"name": "DAGSTER_RUN_STEP_KEY", "value": "preprocess_companies_node"}],
    )
    manifest = kubernetes.client.ApiClient().sanitize_for_serialization(job)
    assert isinstance(manifest, dict)
    return manifest


@pytest.mark.parametrize(
    "variant", ["defaults", "existing_secret_other_key", "pull_secrets", "everything"]
)
def test_step_jobs_get_the_password_and_instance_from_the_chart(
    variant: str, tmp_path: Path
) -> None:
    values = VARIANTS[variant]
    manifest = step_job(variant, tmp_path)
    kubernetes_validate.validate(manifest, KUBE_VERSION, strict=True)

    pod = manifest["spec"]["template"]["spec"]
    (step,) = pod["containers"]
    env = env_of(step)
    secret_name, secret_key = expected_secret(values)
    if secret_key == "DAGSTER_PG_PASSWORD":
        assert "DAGSTER_PG_PASSWORD" not in env
        assert {"secretRef": {"name": secret_name}} in step["envFrom"]
    else:
        assert env["DAGSTER_PG_PASSWORD"]["valueFrom"] == {
            "secretKeyRef": {"name": secret_name, "key": secret_key}
        }
    assert env["DAGSTER_HOME"]["value"] == "/opt/dagster/dagster_home"
    assert env["KEDRO_DISABLE_TELEMETRY"]["value"] == "true"
    password = values.get("postgresql", {}).get("password")
    if password:
        assert password not in yaml.safe_dump(manifest)

    driver_docs = manifests(values)
    driver = container(driver_docs)
    assert step["image"] == driver["image"]
    assert pod["serviceAccountName"] == pod_spec(driver_docs)["serviceAccountName"]
    assert pod.get("imagePullSecrets", []) == pod_spec(driver_docs).get("imagePullSecrets", [])
    assert pod["securityContext"] == pod_spec(driver_docs)["securityContext"]
    assert step["securityContext"] == driver["securityContext"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert volumes["dagster-instance"]["configMap"]["name"] == CONFIG_MAP
    assert {m["mountPath"] for m in step["volumeMounts"]} == {
        m["mountPath"] for m in driver["volumeMounts"]
    }
    if variant == "everything":
        assert step["resources"] == values["stepPods"]["resources"]
        assert step["imagePullPolicy"] == "Always"
        assert pod["tolerations"] == values["tolerations"]
        assert pod["nodeSelector"] == values["nodeSelector"]
        assert manifest["spec"]["template"]["metadata"]["labels"]["team"] == "data"
        assert {"configMapRef": {"name": "catalog-settings"}} in step["envFrom"]
        assert {"secretRef": {"name": "catalog-credentials"}} in step["envFrom"]
        for entry in values["env"]:
            assert env[entry["name"]] == entry


# --- documentation -----------------------------------------------------------------------------


def value_paths(values: dict[str, Any], prefix: str = "") -> set[str]:
    paths = set()
    for key, value in values.items():
        path = f"{prefix}{key}"
        paths.add(path)
        if isinstance(value, dict):
            paths |= value_paths(value, f"{path}.")
    return paths


def test_readme_documents_every_value() -> None:
    """Every key of values.yaml is in the README's table, and the table names no other key."""
    with helm.Chart.load(CHART_DIR) as chart:
        paths = value_paths(chart.values)
    readme = (CHART_DIR / "README.md").read_text()
    table = readme.split("## Values", 1)[1].split("\n## ", 1)[0]
    documented = {
        line.split("|")[1].strip().strip("`")
        for line in table.splitlines()
        if line.startswith("| `")
    }
    assert documented <= paths, f"documented but not in values.yaml: {documented - paths}"
    undocumented = {
        path
        for path in paths
        if path not in documented
        and not any(path.startswith(f"{parent}.") for parent in documented)
        and not any(doc.startswith(f"{path}.") for doc in documented)
    }
    assert undocumented == set()
