"""An HTTP server that emulates the part of the Kubernetes API that dagster-k8s uses.

Objects live in memory. A ``batch/v1`` Job gets pods the way the Job controller would create them;
each pod container runs as a local Docker container (host network only, never a Docker network).
A background thread follows the containers' states into the pod and Job statuses.

Usage::

    with K8sEmulator() as emulator:
        emulator.write_kubeconfig("/tmp/kubeconfig")
        kubernetes.config.load_kube_config(config_file="/tmp/kubeconfig")
        ...

Everything the emulator started (containers labelled ``EMULATOR_LABEL=<server id>``, scratch
directories for ``emptyDir``/``secret``/``configMap`` volumes) is removed by ``stop()``.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import logging
import random
import re
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import docker
import docker.errors

LOG = logging.getLogger("k8s_emulator")

EMULATOR_LABEL = "org.kedro-dagster-runner.k8s-emulator"
NODE_NAME = "k8s-emulator"
HOST_IP = "127.0.0.1"
VERSION = {
    "major": "1",
    "minor": "30",
    "gitVersion": "v1.30.0-kdr-emulator",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2024-04-17T00:00:00Z",
    "goVersion": "go1.22.2",
    "compiler": "gc",
    "platform": "linux/amd64",
}
SUPPORTED_VOLUMES = ("hostPath", "emptyDir", "secret", "configMap")
POD_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet Kubernetes' generateName uses
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


@dataclass(frozen=True)
class _Resource:
    plural: str
    group: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/v1" if self.group else "v1"

    @property
    def qualified(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


RESOURCES = {
    "jobs": _Resource("jobs", "batch", "Job"),
    "pods": _Resource("pods", "", "Pod"),
    "secrets": _Resource("secrets", "", "Secret"),
    "configmaps": _Resource("configmaps", "", "ConfigMap"),
    "events": _Resource("events", "", "Event"),
    "namespaces": _Resource("namespaces", "", "Namespace", namespaced=False),
}
CORE_VERBS = {
    "pods": ["create", "delete", "get", "list"],
    "pods/log": ["get"],
    "pods/status": ["get"],
    "secrets": ["create", "delete", "get", "list", "patch", "update"],
    "configmaps": ["create", "delete", "get", "list", "patch", "update"],
    "events": ["get", "list"],
    "namespaces": ["create", "get", "list"],
}


class ApiError(Exception):
    """An error answered as a Kubernetes ``Status`` object."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def body(self) -> dict:
        status = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            status["details"] = self.details
        return status


def _not_found(res: _Resource, name: str) -> ApiError:
    details = {"name": name, "group": res.group, "kind": res.plural}
    return ApiError(404, "NotFound", f'{res.qualified} "{name}" not found', details)


def _invalid(res: _Resource, name: str, message: str) -> ApiError:
    details = {"name": name, "group": res.group, "kind": res.kind}
    return ApiError(
        422, "Invalid", f'{res.kind}.{res.group or "core"} "{name}" is invalid: {message}', details
    )


class _ConfigError(Exception):
    """A pod container cannot be configured yet (missing Secret, ConfigMap or key)."""


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _docker_time(value: str | None) -> str | None:
    """Docker's RFC 3339 nanosecond time to the second precision Kubernetes uses."""
    if not value or value.startswith("0001-"):
        return None
    return value[:19] + "Z"


def _random_suffix(length: int = 5) -> str:
    return "".join(random.choice(POD_NAME_ALPHABET) for _ in range(length))


# --- selectors ---------------------------------------------------------------------------------

_SELECTOR_SPLIT = re.compile(r",(?![^()]*\))")
_SET_REQUIREMENT = re.compile(r"^(\S+)\s+(in|notin)\s+\(([^)]*)\)$")
_EQ_REQUIREMENT = re.compile(r"^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$")
_KEY = re.compile(r"^[A-Za-z0-9_./-]+$")


def parse_label_selector(text: str | None) -> list[tuple[str, str, Any]]:
    """Parse ``a=b,c!=d,e in (f,g),h notin (i),j,!k`` into (key, operator, value) tuples."""
    requirements: list[tuple[str, str, Any]] = []
    for raw in _SELECTOR_SPLIT.split(text or ""):
        part = raw.strip()
        if not part:
            continue
        if match := _SET_REQUIREMENT.match(part):
            values = {v.strip() for v in match[3].split(",") if v.strip()}
            requirements.append((match[1], match[2], values))
        elif part.startswith("!") and _KEY.match(part[1:].strip()):
            requirements.append((part[1:].strip(), "!exists", None))
        elif match := _EQ_REQUIREMENT.match(part):
            requirements.append((match[1], "!=" if match[2] == "!=" else "=", match[3]))
        elif _KEY.match(part):
            requirements.append((part, "exists", None))
        else:
            raise ApiError(
                400, "BadRequest", f"unable to parse label selector requirement {part!r}"
            )
    return requirements


def labels_match(labels: dict | None, requirements: list[tuple[str, str, Any]]) -> bool:
    labels = labels or {}
    for key, op, value in requirements:
        present = key in labels
        ok = {
            "=": present and labels.get(key) == value,
            "!=": labels.get(key) != value,
            "in": present and labels.get(key) in (value or ()),
            "notin": not present or labels.get(key) not in (value or ()),
            "exists": present,
            "!exists": not present,
        }[op]
        if not ok:
            return False
    return True


def parse_field_selector(text: str | None) -> list[tuple[str, str, str]]:
    """Parse ``metadata.name=x,status.phase!=Failed`` (any dotted path of the object)."""
    requirements = []
    for raw in (text or "").split(","):
        part = raw.strip()
        if not part:
            continue
        match = re.match(r"^([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*)$", part)
        if not match:
            raise ApiError(400, "BadRequest", f"invalid field selector requirement {part!r}")
        requirements.append((match[1], "!=" if match[2] == "!=" else "=", match[3].strip()))
    return requirements


def _field_value(obj: dict, path: str) -> str:
    current: Any = obj
    for part in path.split("."):
        if not isinstance(current, dict):
            return ""
        current = current.get(part)
    if current is None:
        return ""
    if isinstance(current, bool):
        return "true" if current else "false"
    return str(current)


def fields_match(obj: dict, requirements: list[tuple[str, str, str]]) -> bool:
    for path, op, value in requirements:
        equal = _field_value(obj, path) == value
        if equal != (op == "="):
            return False
    return True


# --- pod container configuration ---------------------------------------------------------------

_VAR_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand_vars(text: str, env: dict[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion: known names are replaced, ``$$`` escapes a ``$``."""

    def replace(match: re.Match) -> str:
        if match[0] == "$$":
            return "$"
        return env.get(match[1], match[0])

    return _VAR_REF.sub(replace, text)


def _truthy(value: str | None) -> bool:
    """Query flags the way Go's strconv.ParseBool reads them (the client sends ``True``)."""
    return (value or "").lower() in ("1", "t", "true")


def _decode(value: str) -> str:
    return base64.b64decode(value).decode("utf-8", errors="replace")


@dataclass
class _PodRuntime:
    namespace: str
    name: str
    job: str | None
    state_dir: Path
    containers: dict[str, str] = field(default_factory=dict)  # container name -> docker id
    started: bool = False
    terminal: bool = False
    deleted: bool = False
    next_attempt: float = 0.0


@dataclass
class _JobRuntime:
    succeeded: int = 0
    failed: int = 0
    finished: bool = False


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        LOG.debug("%s %s", self.address_string(), format % args)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        emulator = self.server.emulator
        try:
            body = json.loads(raw) if raw.strip() else None
            code, content_type, payload = emulator.dispatch(
                self.command, self.path, body, self.headers.get("Content-Type", "")
            )
        except ApiError as error:
            code, content_type, payload = error.code, "application/json", error.body()
        except json.JSONDecodeError as error:
            code, content_type = 400, "application/json"
            payload = ApiError(400, "BadRequest", f"invalid JSON body: {error}").body()
        except Exception as error:  # an emulator bug: answer 500 rather than hang the client
            LOG.exception("k8s emulator failed on %s %s", self.command, self.path)
            code, content_type = 500, "application/json"
            payload = ApiError(500, "InternalError", f"emulator error: {error!r}").body()
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    emulator: K8sEmulator


class K8sEmulator:
    """In-memory Kubernetes API (Jobs, Pods, Events, Secrets, ConfigMaps) backed by Docker.

    Args:
        host: address to listen on; keep it on loopback.
        port: TCP port, ``0`` for a free one (see ``port``/``url`` after ``start()``).
        poll_interval: seconds between two looks at the containers' states.
        max_grace_seconds: cap on the SIGTERM-to-SIGKILL grace period used when a pod is deleted
            (Kubernetes defaults to 30 s; tests do not want to wait that long).
        server_id: value of the ``EMULATOR_LABEL`` label put on every container started.
        schema_version: Kubernetes version whose schemas every created Job must pass (strict
            ``kubernetes-validate``; unknown fields are rejected with 422); ``None`` to skip.
        fail_job_deletes: fault injection: while true, DELETE of an existing Job answers HTTP 500
            (``InternalError``) and leaves the Job, its pods and containers as they were. The
            attribute of the same name can be switched at any time; the names of the refused
            Jobs are appended to ``refused_job_deletes``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        poll_interval: float = 0.25,
        max_grace_seconds: float = 3,
        server_id: str | None = None,
        schema_version: str | None = "1.30.0",
        fail_job_deletes: bool = False,
    ):
        self.host = host
        self.schema_version = schema_version
        self.validated_jobs: list[str] = []
        self.fail_job_deletes = fail_job_deletes
        self.refused_job_deletes: list[str] = []
        self._requested_port = port
        self.poll_interval = poll_interval
        self.max_grace_seconds = max_grace_seconds
        self.server_id = server_id or uuid.uuid4().hex[:12]
        self._lock = threading.RLock()
        self._objects: dict[tuple[str, str, str], dict] = {}
        self._pods: dict[tuple[str, str], _PodRuntime] = {}
        self._jobs: dict[tuple[str, str], _JobRuntime] = {}
        self._resource_version = 1000
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._local = threading.local()
        self._teardowns: list[threading.Thread] = []
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []
        self._state_root: Path | None = None
        self._image_ids: dict[str, str] = {}

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> K8sEmulator:
        self._docker().ping()
        self._state_root = Path(tempfile.mkdtemp(prefix=f"k8s-emulator-{self.server_id}-"))
        self._server = _Server((self.host, self._requested_port), _Handler)
        self._server.emulator = self
        serve = threading.Thread(
            target=self._server.serve_forever, name="k8s-emulator-http", daemon=True
        )
        poll = threading.Thread(target=self._poll_loop, name="k8s-emulator-poll", daemon=True)
        self._threads = [serve, poll]
        for thread in self._threads:
            thread.start()
        LOG.info("k8s emulator %s listening on %s", self.server_id, self.url)
        return self

    def stop(self) -> None:
        """Stop serving and remove every container and scratch directory this emulator made."""
        self._stopping.set()
        self._wake.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=10)
        for thread in list(self._teardowns):
            thread.join(timeout=self.max_grace_seconds + 5)
        for container in self.containers():
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)
        if self._state_root is not None:
            shutil.rmtree(self._state_root, ignore_errors=True)

    def __enter__(self) -> K8sEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def write_kubeconfig(
        self, path: str | Path, namespace: str = "default", context: str = "k8s-emulator"
    ) -> Path:
        """Write a kubeconfig (no auth) whose current context points at this emulator."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "clusters": [{"name": context, "cluster": {"server": self.url}}],
            "users": [{"name": context, "user": {}}],
            "contexts": [
                {
                    "name": context,
                    "context": {"cluster": context, "user": context, "namespace": namespace},
                }
            ],
            "current-context": context,
        }
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # JSON is YAML: the kubernetes client reads it with yaml.safe_load.
        path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        return path

    def containers(self) -> list:
        """The Docker containers this emulator currently has (for tests and debugging).

        docker-py lists ids, then inspects each: a container removed in between (a Job being
        deleted) is left out instead of failing the listing.
        """
        client = self._docker()
        found = []
        for summary in client.containers.list(
            all=True, sparse=True, filters={"label": f"{EMULATOR_LABEL}={self.server_id}"}
        ):
            try:
                found.append(client.containers.get(summary.id))
            except docker.errors.NotFound:
                continue
        return found

    def _docker(self) -> docker.DockerClient:
        client = getattr(self._local, "client", None)
        if client is None:
            client = docker.from_env(timeout=120)
            self._local.client = client
        return client

    # --- HTTP dispatch --------------------------------------------------------------------------

    def dispatch(
        self, method: str, raw_path: str, body: Any, content_type: str = ""
    ) -> tuple[int, str, Any]:
        parts = urlsplit(raw_path)
        path = parts.path.rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        if method in ("GET", "HEAD"):
            simple = self._simple_get(path)
            if simple is not None:
                return simple
        match = re.match(
            r"^/(?:api/v1|apis/batch/v1)(?:/namespaces/(?P<ns>[^/]+))?/(?P<res>[a-z]+)"
            r"(?:/(?P<name>[^/]+)(?:/(?P<sub>[a-z]+))?)?$",
            path,
        )
        if path.startswith("/api/v1/namespaces/") and path.count("/") == 4:
            match = None  # /api/v1/namespaces/<name>: a namespace object
            name = unquote(path.rsplit("/", 1)[1])
            return self._namespace_request(method, name, body)
        if not match or match["res"] not in RESOURCES:
            raise ApiError(
                404, "NotFound", f"the server could not find the requested resource ({path})"
            )
        res = RESOURCES[match["res"]]
        batch_path = path.startswith("/apis/batch/v1")
        if batch_path != (res.group == "batch"):
            raise ApiError(
                404, "NotFound", f"the server could not find the requested resource ({path})"
            )
        ns = unquote(match["ns"]) if match["ns"] else None
        name = unquote(match["name"]) if match["name"] else None
        sub = match["sub"]
        if res.plural == "namespaces":
            if name is None and method in ("GET", "HEAD"):
                return 200, "application/json", self._list(res, None, query)
            if name is None and method == "POST":
                return self._namespace_request(
                    method, (body or {}).get("metadata", {}).get("name", ""), body
                )
            raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on {path}")
        return self._resource_request(method, res, ns, name, sub, query, body, content_type)

    def _simple_get(self, path: str) -> tuple[int, str, Any] | None:  # noqa: PLR0911
        if path == "/version":
            return 200, "application/json", VERSION
        if path in ("/healthz", "/readyz", "/livez"):
            return 200, "text/plain", b"ok"
        if path == "/api":
            return (
                200,
                "application/json",
                {
                    "kind": "APIVersions",
                    "versions": ["v1"],
                    "serverAddressByClientCIDRs": [
                        {"clientCIDR": "0.0.0.0/0", "serverAddress": f"{self.host}:{self.port}"}
                    ],
                },
            )
        batch_group = {
            "name": "batch",
            "versions": [{"groupVersion": "batch/v1", "version": "v1"}],
            "preferredVersion": {"groupVersion": "batch/v1", "version": "v1"},
        }
        if path == "/apis":
            return (
                200,
                "application/json",
                {"kind": "APIGroupList", "apiVersion": "v1", "groups": [batch_group]},
            )
        if path == "/apis/batch":
            return 200, "application/json", {"kind": "APIGroup", "apiVersion": "v1", **batch_group}
        if path == "/api/v1":
            return 200, "application/json", self._resource_list("v1", CORE_VERBS)
        if path == "/apis/batch/v1":
            verbs = {"jobs": ["create", "delete", "get", "list"], "jobs/status": ["get"]}
            return 200, "application/json", self._resource_list("batch/v1", verbs)
        return None

    @staticmethod
    def _resource_list(group_version: str, verbs: dict[str, list[str]]) -> dict:
        resources = []
        for name, resource_verbs in verbs.items():
            res = RESOURCES[name.split("/")[0]]
            resources.append(
                {
                    "name": name,
                    "singularName": "" if "/" in name else res.kind.lower(),
                    "namespaced": res.namespaced,
                    "kind": res.kind,
                    "verbs": resource_verbs,
                }
            )
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": group_version,
            "resources": resources,
        }

    def _namespace_request(self, method: str, name: str, body: Any) -> tuple[int, str, Any]:
        """Namespaces all exist implicitly; POST records one so that it is listed."""
        res = RESOURCES["namespaces"]
        if method == "POST":
            if not name or not DNS_LABEL.match(name):
                raise _invalid(res, name, "metadata.name: Invalid value")
            with self._lock:
                if ("namespaces", "", name) in self._objects:
                    raise ApiError(409, "AlreadyExists", f'namespaces "{name}" already exists')
                obj = self._namespace_object(name, body)
                self._objects[("namespaces", "", name)] = obj
            return 201, "application/json", obj
        if method in ("GET", "HEAD"):
            with self._lock:
                return (
                    200,
                    "application/json",
                    self._objects.get(("namespaces", "", name), self._namespace_object(name, None)),
                )
        raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on namespaces")

    def _namespace_object(self, name: str, body: Any) -> dict:
        metadata = dict((body or {}).get("metadata") or {})
        metadata.update(
            name=name, uid=str(uuid.uuid5(uuid.NAMESPACE_DNS, name)), creationTimestamp=_now()
        )
        metadata.setdefault("resourceVersion", "1")
        return {
            "kind": "Namespace",
            "apiVersion": "v1",
            "metadata": metadata,
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        }

    def _resource_request(
        self,
        method: str,
        res: _Resource,
        ns: str | None,
        name: str | None,
        sub: str | None,
        query: dict[str, str],
        body: Any,
        content_type: str,
    ) -> tuple[int, str, Any]:
        json_type = "application/json"
        if name is None:
            if method in ("GET", "HEAD"):
                if _truthy(query.get("watch")):
                    raise ApiError(400, "BadRequest", "watch is not supported by the k8s emulator")
                return 200, json_type, self._list(res, ns, query)
            if method == "POST" and ns is not None:
                if res.plural in ("events",):
                    raise ApiError(405, "MethodNotAllowed", "the emulator records its own events")
                return 201, json_type, self.create(res, ns, body or {})
            raise ApiError(405, "MethodNotAllowed", f"{method} is not supported on {res.plural}")
        if ns is None:
            raise ApiError(404, "NotFound", f"{res.plural} are namespaced")
        if sub == "log" and res.plural == "pods" and method == "GET":
            return 200, "text/plain", self.pod_log(ns, name, query)
        if sub not in (None, "status") or (sub == "status" and res.plural not in ("jobs", "pods")):
            raise ApiError(404, "NotFound", f"unknown subresource {res.plural}/{sub}")
        if method in ("GET", "HEAD"):
            return 200, json_type, self.read(res, ns, name)
        if method == "DELETE":
            return 200, json_type, self.delete(res, ns, name, {**query, **(body or {})})
        if method in ("PUT", "PATCH") and res.plural in ("secrets", "configmaps") and sub is None:
            return 200, json_type, self.update(res, ns, name, body or {}, method, content_type)
        raise ApiError(
            405,
            "MethodNotAllowed",
            f"{method} is not supported on {res.plural} by the k8s emulator",
        )

    # --- generic object store -------------------------------------------------------------------

    def _next_version(self) -> str:
        self._resource_version += 1
        return str(self._resource_version)

    def _new_metadata(self, res: _Resource, ns: str, body: dict) -> dict:
        metadata = copy.deepcopy(body.get("metadata") or {})
        name = metadata.get("name")
        if not name and metadata.get("generateName"):
            name = metadata["generateName"][:58] + _random_suffix()
        if not name:
            raise _invalid(
                res, "", "metadata.name: Required value: name or generateName is required"
            )
        limit = 63 if res.plural == "jobs" else 253
        if len(name) > limit or not DNS_SUBDOMAIN.match(name):
            raise _invalid(
                res,
                name,
                "metadata.name: Invalid value: a lowercase RFC 1123 subdomain is required",
            )
        for key in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "selfLink"):
            metadata.pop(key, None)
        metadata.update(
            name=name,
            namespace=ns,
            uid=str(uuid.uuid4()),
            resourceVersion=self._next_version(),
            creationTimestamp=_now(),
        )
        return metadata

    def create(self, res: _Resource, ns: str, body: dict) -> dict:
        with self._lock:
            metadata = self._new_metadata(res, ns, body)
            key = (res.plural, ns, metadata["name"])
            if key in self._objects:
                raise ApiError(
                    409,
                    "AlreadyExists",
                    f'{res.qualified} "{metadata["name"]}" already exists',
                    {"name": metadata["name"], "group": res.group, "kind": res.plural},
                )
            obj = copy.deepcopy(body)
            obj.update(apiVersion=res.api_version, kind=res.kind, metadata=metadata)
            if res.plural == "secrets":
                self._normalize_secret(obj)
            elif res.plural == "jobs":
                self._default_job(obj)
            elif res.plural == "pods":
                raise ApiError(405, "MethodNotAllowed", "the emulator only creates pods for Jobs")
            self._objects[key] = obj
            if res.plural == "jobs":
                self._jobs[(ns, metadata["name"])] = _JobRuntime()
                self._reconcile_job(ns, metadata["name"])
        self._wake.set()
        return copy.deepcopy(obj)

    def read(self, res: _Resource, ns: str, name: str) -> dict:
        with self._lock:
            obj = self._objects.get((res.plural, ns, name))
            if obj is None:
                raise _not_found(res, name)
            return copy.deepcopy(obj)

    def _list(self, res: _Resource, ns: str | None, query: dict[str, str]) -> dict:
        labels = parse_label_selector(query.get("labelSelector"))
        fields = parse_field_selector(query.get("fieldSelector"))
        with self._lock:
            items = [
                copy.deepcopy(obj)
                for (plural, obj_ns, _), obj in sorted(self._objects.items())
                if plural == res.plural
                and (ns is None or obj_ns == ns)
                and labels_match(obj["metadata"].get("labels"), labels)
                and fields_match(obj, fields)
            ]
            version = str(self._resource_version)
            used = {k[1] for k in self._objects if k[1]}
        if res.plural == "namespaces":
            known = {item["metadata"]["name"] for item in items}
            for extra in sorted(({"default"} | used) - known):
                candidate = self._namespace_object(extra, None)
                if labels_match({}, labels) and fields_match(candidate, fields):
                    items.append(candidate)
        metadata: dict[str, Any] = {"resourceVersion": version}
        start = int(query.get("continue") or 0)
        limit = int(query.get("limit") or 0)
        if limit > 0 and len(items) > start + limit:
            metadata["continue"] = str(start + limit)
            metadata["remainingItemCount"] = len(items) - start - limit
            items = items[start : start + limit]
        else:
            items = items[start:]
        return {
            "kind": f"{res.kind}List",
            "apiVersion": res.api_version,
            "metadata": metadata,
            "items": items,
        }

    def update(
        self, res: _Resource, ns: str, name: str, body: dict, method: str, content_type: str
    ) -> dict:
        with self._lock:
            current = self._objects.get((res.plural, ns, name))
            if current is None:
                raise _not_found(res, name)
            if method == "PATCH":
                if isinstance(body, list) or "json-patch" in content_type:
                    raise ApiError(415, "UnsupportedMediaType", "only merge patches are supported")
                new = _merge_patch(copy.deepcopy(current), body)
            else:
                new = copy.deepcopy(body)
            new.update(apiVersion=res.api_version, kind=res.kind)
            metadata = new.setdefault("metadata", {})
            for key in ("name", "namespace", "uid", "creationTimestamp"):
                metadata[key] = current["metadata"][key]
            metadata["resourceVersion"] = self._next_version()
            if res.plural == "secrets":
                self._normalize_secret(new)
            self._objects[(res.plural, ns, name)] = new
            return copy.deepcopy(new)

    @staticmethod
    def _normalize_secret(obj: dict) -> None:
        data = dict(obj.get("data") or {})
        for key, value in (obj.pop("stringData", None) or {}).items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        for key, value in data.items():
            try:
                base64.b64decode(value, validate=True)
            except (ValueError, TypeError) as error:
                raise _invalid(
                    RESOURCES["secrets"],
                    obj["metadata"]["name"],
                    f"data[{key}]: illegal base64 data",
                ) from error
        obj["data"] = data
        obj.setdefault("type", "Opaque")

    def delete(self, res: _Resource, ns: str, name: str, options: dict) -> dict:
        with self._lock:
            obj = self._objects.get((res.plural, ns, name))
            if obj is None:
                raise _not_found(res, name)
            if res.plural == "jobs" and self.fail_job_deletes:
                self.refused_job_deletes.append(name)
                raise ApiError(
                    500,
                    "InternalError",
                    f'jobs.batch "{name}" could not be deleted: '
                    "fault injected by the k8s emulator (fail_job_deletes)",
                    {"name": name, "group": res.group, "kind": res.plural},
                )
            if res.plural == "jobs":
                policy = options.get("propagationPolicy")
                if policy is None and options.get("orphanDependents") is False:
                    policy = "Background"
                self._delete_job(ns, name, policy, options)
            elif res.plural == "pods":
                self._delete_pod(ns, name, options, count_failure=True)
            else:
                del self._objects[(res.plural, ns, name)]
        self._wake.set()
        if res.plural == "pods":
            obj = copy.deepcopy(obj)
            obj["metadata"]["deletionTimestamp"] = _now()
            return obj
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": {
                "name": name,
                "group": res.group,
                "kind": res.plural,
                "uid": obj["metadata"]["uid"],
            },
        }

    # --- events ---------------------------------------------------------------------------------

    def _record_event(
        self, obj: dict, reason: str, message: str, event_type: str = "Normal"
    ) -> None:
        metadata = obj["metadata"]
        now = _now()
        name = f"{metadata['name']}.{time.time_ns():x}"
        ns = metadata["namespace"]
        component = "job-controller" if obj["kind"] == "Job" else "kubelet"
        if reason == "Scheduled":
            component = "default-scheduler"
        self._objects[("events", ns, name)] = {
            "kind": "Event",
            "apiVersion": "v1",
            "metadata": {
                "name": name,
                "namespace": ns,
                "uid": str(uuid.uuid4()),
                "resourceVersion": self._next_version(),
                "creationTimestamp": now,
            },
            "involvedObject": {
                "kind": obj["kind"],
                "namespace": ns,
                "name": metadata["name"],
                "uid": metadata["uid"],
                "apiVersion": obj["apiVersion"],
                "resourceVersion": metadata["resourceVersion"],
            },
            "reason": reason,
            "message": message,
            "source": {"component": component, "host": NODE_NAME}
            if component == "kubelet"
            else {"component": component},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "type": event_type,
            "eventTime": None,
            "reportingComponent": component,
            "reportingInstance": NODE_NAME if component == "kubelet" else "",
        }

    # --- the Job controller ---------------------------------------------------------------------

    def _validate_schema(self, job: dict, name: str) -> None:
        """Reject a Job that does not pass the strict Kubernetes schema of ``schema_version``."""
        if not self.schema_version:
            return
        import copy

        import kubernetes_validate

        try:
            kubernetes_validate.validate(copy.deepcopy(job), self.schema_version, strict=True)
        except kubernetes_validate.ValidationError as error:
            raise _invalid(
                RESOURCES["jobs"], name, f"schema {self.schema_version}: {error.message}"
            ) from error
        self.validated_jobs.append(name)

    def _default_job(self, job: dict) -> None:
        res = RESOURCES["jobs"]
        name = job["metadata"]["name"]
        self._validate_schema(job, name)
        spec = job.setdefault("spec", {})
        template = spec.get("template") or {}
        pod_spec = template.get("spec") or {}
        containers = pod_spec.get("containers") or []
        if not containers:
            raise _invalid(res, name, "spec.template.spec.containers: Required value")
        if pod_spec.get("initContainers"):
            raise _invalid(
                res, name, "spec.template.spec.initContainers: not supported by the k8s emulator"
            )
        policy = pod_spec.get("restartPolicy")
        if policy != "Never":
            raise _invalid(
                res,
                name,
                f"spec.template.spec.restartPolicy: Unsupported value: {policy!r}: the k8s emulator"
                ' supports "Never" only (Kubernetes also allows "OnFailure")',
            )
        volumes = {}
        for volume in pod_spec.get("volumes") or []:
            kinds = [k for k in volume if k != "name"]
            if not kinds or kinds[0] not in SUPPORTED_VOLUMES:
                raise _invalid(
                    res,
                    name,
                    f"spec.template.spec.volumes[{volume.get('name')}]: the k8s emulator supports"
                    f" {', '.join(SUPPORTED_VOLUMES)} volumes only, not {kinds}",
                )
            volumes[volume.get("name")] = volume
        for container in containers:
            if not container.get("name") or not container.get("image"):
                raise _invalid(
                    res, name, "spec.template.spec.containers: name and image are required"
                )
            for mount in container.get("volumeMounts") or []:
                if mount.get("name") not in volumes:
                    raise _invalid(
                        res, name, f"volumeMounts[{mount.get('name')}]: Not found: no such volume"
                    )
        uid = job["metadata"]["uid"]
        spec.setdefault("parallelism", 1)
        spec.setdefault("completions", 1)
        spec.setdefault("backoffLimit", 6)
        spec.setdefault("completionMode", "NonIndexed")
        spec.setdefault("suspend", False)
        spec.setdefault("selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
        template_meta = template.setdefault("metadata", {})
        template_meta.pop("name", None)  # Kubernetes names Job pods itself
        template_meta.setdefault("labels", {}).update(
            {
                "batch.kubernetes.io/controller-uid": uid,
                "batch.kubernetes.io/job-name": name,
                "controller-uid": uid,
                "job-name": name,
            }
        )
        job["metadata"].setdefault("labels", {})
        job["status"] = {}

    def _reconcile_job(self, ns: str, name: str) -> None:  # noqa: PLR0912
        """Create pods or finish the Job from its pods' outcomes (call with the lock held)."""
        job = self._objects.get(("jobs", ns, name))
        runtime = self._jobs.get((ns, name))
        if job is None or runtime is None or runtime.finished:
            return
        spec, status = job["spec"], job["status"]
        before = json.dumps(status, sort_keys=True)
        active = [
            rt
            for rt in self._pods.values()
            if rt.namespace == ns and rt.job == name and not rt.terminal and not rt.deleted
        ]
        outcome = None
        if runtime.failed > int(spec.get("backoffLimit", 6)):
            outcome = (
                "Failed",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            )
        elif runtime.succeeded >= int(spec.get("completions") or 1):
            outcome = (
                "Complete",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
            )
        elif spec.get("activeDeadlineSeconds") and status.get("startTime"):
            started = datetime.strptime(status["startTime"], "%Y-%m-%dT%H:%M:%SZ").replace(
                tzinfo=timezone.utc
            )
            if (datetime.now(timezone.utc) - started).total_seconds() > float(
                spec["activeDeadlineSeconds"]
            ):
                outcome = (
                    "Failed",
                    "DeadlineExceeded",
                    "Job was active longer than specified deadline",
                )
        if outcome is None and not spec.get("suspend"):
            status.setdefault("startTime", _now())
            wanted = min(
                int(spec.get("parallelism") or 1),
                int(spec.get("completions") or 1) - runtime.succeeded,
            )
            for _ in range(wanted - len(active)):
                active.append(self._create_job_pod(job))
        if outcome is not None:
            runtime.finished = True
            if outcome[0] == "Failed":
                runtime.failed += len(active)  # pods killed by the Job's failure count as failed
            for rt in active:
                self._delete_pod(ns, rt.name, {}, count_failure=False)
            active = []
            now = _now()
            condition_type, reason, message = outcome
            status["conditions"] = [
                {
                    "type": condition_type,
                    "status": "True",
                    "lastProbeTime": now,
                    "lastTransitionTime": now,
                    "reason": reason,
                    "message": message,
                }
            ]
            if condition_type == "Complete":
                status["completionTime"] = now
                self._record_event(job, "Completed", "Job completed")
            else:
                self._record_event(job, reason, message, "Warning")
        for key, value in (
            ("active", len(active)),
            ("succeeded", runtime.succeeded),
            ("failed", runtime.failed),
            ("ready", sum(1 for rt in active if rt.started)),
        ):
            if value:
                status[key] = value
            else:
                status.pop(key, None)
        if json.dumps(status, sort_keys=True) != before:
            job["metadata"]["resourceVersion"] = self._next_version()

    def _create_job_pod(self, job: dict) -> _PodRuntime:
        ns, job_name = job["metadata"]["namespace"], job["metadata"]["name"]
        template = copy.deepcopy(job["spec"]["template"])
        name = f"{job_name[:57]}-{_random_suffix()}"
        while ("pods", ns, name) in self._objects:
            name = f"{job_name[:57]}-{_random_suffix()}"
        metadata = template.get("metadata") or {}
        metadata.update(
            name=name,
            generateName=f"{job_name[:57]}-",
            namespace=ns,
            uid=str(uuid.uuid4()),
            resourceVersion=self._next_version(),
            creationTimestamp=_now(),
            ownerReferences=[
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "name": job_name,
                    "uid": job["metadata"]["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        )
        spec = template.get("spec") or {}
        spec.setdefault("serviceAccountName", "default")
        spec.setdefault("schedulerName", "default-scheduler")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("dnsPolicy", "ClusterFirst")
        spec["nodeName"] = NODE_NAME
        now = _now()
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": metadata,
            "spec": spec,
            "status": {
                "phase": "Pending",
                "conditions": [
                    {
                        "type": "PodScheduled",
                        "status": "True",
                        "lastProbeTime": None,
                        "lastTransitionTime": now,
                    }
                ],
                "hostIP": HOST_IP,
                "podIP": HOST_IP,
                "podIPs": [{"ip": HOST_IP}],
                "startTime": now,
                "qosClass": "BestEffort",
                "containerStatuses": [
                    self._container_status(c, {"waiting": {"reason": "ContainerCreating"}})
                    for c in spec["containers"]
                ],
            },
        }
        self._objects[("pods", ns, name)] = pod
        runtime = _PodRuntime(ns, name, job_name, self._pod_dir(metadata["uid"]))
        self._pods[(ns, name)] = runtime
        self._record_event(job, "SuccessfulCreate", f"Created pod: {name}")
        self._record_event(pod, "Scheduled", f"Successfully assigned {ns}/{name} to {NODE_NAME}")
        return runtime

    def _pod_dir(self, uid: str) -> Path:
        assert self._state_root is not None
        return self._state_root / uid

    @staticmethod
    def _container_status(container: dict, state: dict, **extra: Any) -> dict:
        status = {
            "name": container["name"],
            "image": container["image"],
            "imageID": "",
            "ready": "running" in state,
            "restartCount": 0,
            "started": "running" in state,
            "state": state,
            "lastState": {},
        }
        status.update(extra)
        return status

    def _delete_job(self, ns: str, name: str, policy: str | None, options: dict) -> None:
        del self._objects[("jobs", ns, name)]
        self._jobs.pop((ns, name), None)
        for rt in list(self._pods.values()):
            if rt.namespace != ns or rt.job != name:
                continue
            if policy in ("Background", "Foreground"):
                self._delete_pod(ns, rt.name, options, count_failure=False)
            else:  # batch/v1 Jobs orphan their pods by default, as on a real API server
                rt.job = None
                self._objects[("pods", ns, rt.name)]["metadata"].pop("ownerReferences", None)

    def _delete_pod(self, ns: str, name: str, options: dict, *, count_failure: bool) -> None:
        pod = self._objects.pop(("pods", ns, name), None)
        runtime = self._pods.pop((ns, name), None)
        if pod is None or runtime is None:
            return
        runtime.deleted = True
        if not runtime.terminal and runtime.job and count_failure:
            job_runtime = self._jobs.get((ns, runtime.job))
            if job_runtime is not None and not job_runtime.finished:
                job_runtime.failed += 1  # a deleted running pod counts as failed, as in Kubernetes
                self._reconcile_job(ns, runtime.job)
        if runtime.containers and not runtime.terminal:
            self._record_event(pod, "Killing", "Stopping container(s)")
        grace = options.get("gracePeriodSeconds")
        if grace is None:
            grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
        grace = min(float(grace), self.max_grace_seconds)
        thread = threading.Thread(
            target=self._teardown,
            args=(runtime, grace),
            name=f"k8s-emulator-rm-{name}",
            daemon=True,
        )
        self._teardowns = [t for t in self._teardowns if t.is_alive()] + [thread]
        thread.start()

    def _teardown(self, runtime: _PodRuntime, grace: float) -> None:
        client = self._docker()
        with self._lock:
            container_ids = list(runtime.containers.values())
        for container_id in container_ids:
            try:
                if grace > 0:
                    client.api.stop(container_id, timeout=int(grace))
                client.api.remove_container(container_id, force=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as error:
                LOG.warning("could not remove container %s: %s", container_id, error)
        shutil.rmtree(runtime.state_dir, ignore_errors=True)

    # --- the kubelet --------------------------------------------------------------------------

    def _poll_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                self._tick()
            except Exception:
                LOG.exception("k8s emulator poll failed")
            self._wake.wait(self.poll_interval)
            self._wake.clear()

    def _tick(self) -> None:
        with self._lock:
            runtimes = [rt for rt in self._pods.values() if not rt.terminal and not rt.deleted]
        now = time.monotonic()
        for runtime in runtimes:
            if self._stopping.is_set():
                return
            if not runtime.started:
                if runtime.next_attempt <= now:
                    self._start_pod(runtime)
            else:
                self._refresh_pod(runtime)
        with self._lock:
            for ns, name in list(self._jobs):
                self._reconcile_job(ns, name)

    def _start_pod(self, runtime: _PodRuntime) -> None:
        key = (runtime.namespace, runtime.name)
        with self._lock:
            pod = self._objects.get(("pods", *key))
            if pod is None or runtime.deleted:
                return
            pod = copy.deepcopy(pod)
            try:
                plans = [self._container_plan(pod, c, runtime) for c in pod["spec"]["containers"]]
            except _ConfigError as error:
                self._set_waiting(key, "CreateContainerConfigError", str(error))
                runtime.next_attempt = time.monotonic() + 2
                return
        client = self._docker()
        image_ids = {}
        for plan in plans:
            try:
                image_ids[plan["image"]] = client.images.get(plan["image"]).id
            except docker.errors.ImageNotFound:
                message = (
                    f'Failed to pull image "{plan["image"]}": the k8s emulator never pulls images;'
                    " load the image into the local Docker engine"
                )
                with self._lock:
                    self._set_waiting(key, "ErrImagePull", message)
                runtime.next_attempt = time.monotonic() + 5
                return
        for plan in plans:
            if plan["name"] in runtime.containers:
                continue  # created by an earlier attempt
            image = plan["image"]
            with self._lock:
                self._event_for(
                    key, "Pulled", f'Container image "{image}" already present on machine'
                )
            try:
                container = client.containers.create(**plan["create"])
            except docker.errors.APIError as error:
                with self._lock:
                    self._set_waiting(key, "CreateContainerError", str(error))
                runtime.next_attempt = time.monotonic() + 5
                return
            with self._lock:
                runtime.containers[plan["name"]] = container.id
                deleted = runtime.deleted
            if deleted:  # deleted while we were creating it
                container.remove(force=True)
                return
            with self._lock:
                self._event_for(key, "Created", f"Created container {plan['name']}")
            try:
                container.start()
            except docker.errors.APIError as error:
                LOG.warning(
                    "container %s of pod %s failed to start: %s", plan["name"], runtime.name, error
                )
                with self._lock:
                    self._event_for(key, "Failed", f"Error: {error}", "Warning")
                continue
            with self._lock:
                self._event_for(key, "Started", f"Started container {plan['name']}")
        with self._lock:
            runtime.started = True
            self._image_ids.update(image_ids)
        self._refresh_pod(runtime)

    def _event_for(
        self, key: tuple[str, str], reason: str, message: str, event_type: str = "Normal"
    ) -> None:
        pod = self._objects.get(("pods", *key))
        if pod is not None:
            self._record_event(pod, reason, message, event_type)

    def _set_waiting(self, key: tuple[str, str], reason: str, message: str) -> None:
        pod = self._objects.get(("pods", *key))
        if pod is None:
            return
        statuses = pod["status"]["containerStatuses"]
        previous = statuses[0]["state"].get("waiting", {}) if statuses else {}
        pod["status"]["containerStatuses"] = [
            self._container_status(c, {"waiting": {"reason": reason, "message": message}})
            for c in pod["spec"]["containers"]
        ]
        pod["metadata"]["resourceVersion"] = self._next_version()
        if previous.get("reason") != reason or previous.get("message") != message:
            self._record_event(pod, "Failed", f"Error: {message}", "Warning")

    def _container_plan(self, pod: dict, container: dict, runtime: _PodRuntime) -> dict:
        """Docker create() arguments for one pod container (call with the lock held)."""
        ns = pod["metadata"]["namespace"]
        env = self._resolve_env(pod, container)
        env.setdefault("HOSTNAME", pod["metadata"]["name"])
        command = [expand_vars(str(a), env) for a in container.get("command") or []] or None
        args = [expand_vars(str(a), env) for a in container.get("args") or []] or None
        binds = self._binds(pod, container, runtime)
        security = {
            **(pod["spec"].get("securityContext") or {}),
            **(container.get("securityContext") or {}),
        }
        user = None
        if security.get("runAsUser") is not None:
            user = str(security["runAsUser"])
            if security.get("runAsGroup") is not None:
                user += f":{security['runAsGroup']}"
        labels = {
            EMULATOR_LABEL: self.server_id,
            f"{EMULATOR_LABEL}.namespace": ns,
            f"{EMULATOR_LABEL}.pod": pod["metadata"]["name"],
            f"{EMULATOR_LABEL}.container": container["name"],
        }
        if runtime.job:
            labels[f"{EMULATOR_LABEL}.job"] = runtime.job
        create = {
            "image": container["image"],
            "command": args,  # Kubernetes args replace the image's CMD
            "entrypoint": command,  # Kubernetes command replaces the image's ENTRYPOINT
            "name": f"k8semu-{self.server_id}-{ns}-{pod['metadata']['name']}-{container['name']}",
            "environment": [f"{k}={v}" for k, v in env.items()],
            "working_dir": container.get("workingDir") or None,
            "network_mode": "host",
            "labels": labels,
            "volumes": binds,
            "user": user,
            "tty": bool(container.get("tty")),
            "stdin_open": bool(container.get("stdin")),
            "detach": True,
        }
        return {"name": container["name"], "image": container["image"], "create": create}

    def _lookup(self, kind: str, ns: str, name: str, optional: bool) -> dict | None:
        obj = self._objects.get((kind, ns, name))
        if obj is None and not optional:
            singular = "secret" if kind == "secrets" else "configmap"
            raise _ConfigError(f'{singular} "{name}" not found')
        return obj

    def _resolve_env(self, pod: dict, container: dict) -> dict[str, str]:
        ns = pod["metadata"]["namespace"]
        env: dict[str, str] = {}
        for source in container.get("envFrom") or []:
            prefix = source.get("prefix") or ""
            for ref_key, kind in (("secretRef", "secrets"), ("configMapRef", "configmaps")):
                ref = source.get(ref_key)
                if not ref:
                    continue
                obj = self._lookup(kind, ns, ref.get("name", ""), bool(ref.get("optional")))
                for key, value in ((obj or {}).get("data") or {}).items():
                    if ENV_NAME.match(prefix + key):
                        env[prefix + key] = _decode(value) if kind == "secrets" else str(value)
        for var in container.get("env") or []:
            name = var["name"]
            if "valueFrom" not in var or var.get("value") is not None:
                env[name] = expand_vars(str(var.get("value") or ""), env)
                continue
            value = self._env_value_from(pod, var["valueFrom"], name)
            if value is not None:
                env[name] = value
        return env

    def _env_value_from(self, pod: dict, value_from: dict, name: str) -> str | None:
        ns = pod["metadata"]["namespace"]
        for ref_key, kind, label in (
            ("secretKeyRef", "secrets", "Secret"),
            ("configMapKeyRef", "configmaps", "ConfigMap"),
        ):
            ref = value_from.get(ref_key)
            if not ref:
                continue
            optional = bool(ref.get("optional"))
            obj = self._lookup(kind, ns, ref.get("name", ""), optional)
            data = (obj or {}).get("data") or {}
            if ref.get("key") not in data:
                if optional:
                    return None
                raise _ConfigError(
                    f"couldn't find key {ref.get('key')} in {label} {ns}/{ref.get('name')}"
                )
            raw = data[ref["key"]]
            return _decode(raw) if kind == "secrets" else str(raw)
        if "fieldRef" in value_from:
            path = value_from["fieldRef"].get("fieldPath", "")
            match = re.match(r"^metadata\.(labels|annotations)\['([^']+)'\]$", path)
            if match:
                return str((pod["metadata"].get(match[1]) or {}).get(match[2], ""))
            simple = {
                "metadata.name": pod["metadata"]["name"],
                "metadata.namespace": pod["metadata"]["namespace"],
                "metadata.uid": pod["metadata"]["uid"],
                "spec.nodeName": NODE_NAME,
                "spec.serviceAccountName": pod["spec"].get("serviceAccountName", "default"),
                "status.hostIP": HOST_IP,
                "status.podIP": HOST_IP,
                "status.podIPs": HOST_IP,
            }
            if path in simple:
                return simple[path]
        raise _ConfigError(
            f"env {name}: valueFrom {sorted(value_from)} is not supported by the k8s emulator"
        )

    def _binds(self, pod: dict, container: dict, runtime: _PodRuntime) -> list[str]:
        volumes = {v["name"]: v for v in pod["spec"].get("volumes") or []}
        binds = []
        for mount in container.get("volumeMounts") or []:
            volume = volumes[mount["name"]]
            source = self._volume_source(pod, volume, runtime)
            read_only = bool(mount.get("readOnly")) or "secret" in volume or "configMap" in volume
            if mount.get("subPath"):
                source = source / mount["subPath"]
                if not source.exists():
                    source.mkdir(parents=True, exist_ok=True)
            binds.append(f"{source}:{mount['mountPath']}:{'ro' if read_only else 'rw'}")
        return binds

    def _volume_source(self, pod: dict, volume: dict, runtime: _PodRuntime) -> Path:
        ns = pod["metadata"]["namespace"]
        if "hostPath" in volume:
            host = Path(volume["hostPath"]["path"])
            kind = volume["hostPath"].get("type") or ""
            if kind in ("", "DirectoryOrCreate") and not host.exists():
                host.mkdir(parents=True, exist_ok=True)
            elif kind == "FileOrCreate" and not host.exists():
                host.parent.mkdir(parents=True, exist_ok=True)
                host.touch()
            elif not host.exists():
                raise _ConfigError(f"hostPath type check failed: {host} does not exist")
            return host
        target = runtime.state_dir / "volumes" / volume["name"]
        if "emptyDir" in volume:
            target.mkdir(parents=True, exist_ok=True)
            return target
        kind, ref_key = ("secrets", "secret") if "secret" in volume else ("configmaps", "configMap")
        source = volume[ref_key] or {}
        name = source.get("secretName") if kind == "secrets" else source.get("name")
        obj = self._lookup(kind, ns, name or "", bool(source.get("optional"))) or {}
        files: dict[str, bytes] = {}
        for key, value in (obj.get("data") or {}).items():
            files[key] = base64.b64decode(value) if kind == "secrets" else str(value).encode()
        for key, value in (obj.get("binaryData") or {}).items():
            files[key] = base64.b64decode(value)
        items = source.get("items")
        if items:
            missing = [i["key"] for i in items if i["key"] not in files]
            if missing:
                raise _ConfigError(f"couldn't find key {missing[0]} in {kind[:-1]} {ns}/{name}")
            files = {i["path"]: files[i["key"]] for i in items}
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        mode = int(source.get("defaultMode", 0o644))
        for relative, content in files.items():
            path = target / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            path.chmod(mode)
        return target

    def _refresh_pod(self, runtime: _PodRuntime) -> None:
        client = self._docker()
        with self._lock:
            ids = dict(runtime.containers)
        states = {}
        for name, container_id in ids.items():
            try:
                states[name] = client.api.inspect_container(container_id)
            except docker.errors.NotFound:
                states[name] = None
        with self._lock:
            key = (runtime.namespace, runtime.name)
            pod = self._objects.get(("pods", *key))
            if pod is None or runtime.deleted or runtime.terminal:
                return
            self._apply_states(pod, runtime, states)

    def _apply_states(
        self, pod: dict, runtime: _PodRuntime, states: dict[str, dict | None]
    ) -> None:
        statuses = []
        image_ids = self._image_ids
        for container in pod["spec"]["containers"]:
            name = container["name"]
            extra = {"imageID": f"docker://{image_ids.get(container['image'], '')}"}
            if name in runtime.containers:
                extra["containerID"] = f"docker://{runtime.containers[name]}"
            state = _container_state(runtime.containers.get(name), name in states, states.get(name))
            statuses.append(self._container_status(container, state, **extra))
        before = json.dumps(pod["status"].get("containerStatuses"), sort_keys=True)
        pod["status"]["containerStatuses"] = statuses
        if json.dumps(statuses, sort_keys=True) == before and pod["status"]["phase"] != "Pending":
            return
        terminated = [s["state"]["terminated"] for s in statuses if "terminated" in s["state"]]
        now = _now()
        if len(terminated) == len(statuses):
            failed = any(t["exitCode"] != 0 for t in terminated)
            phase = "Failed" if failed else "Succeeded"
            runtime.terminal = True
            job_runtime = self._jobs.get((runtime.namespace, runtime.job or ""))
            if job_runtime is not None and not job_runtime.finished:
                if failed:
                    job_runtime.failed += 1
                else:
                    job_runtime.succeeded += 1
            ready_reason = "PodFailed" if failed else "PodCompleted"
            ready = {"status": "False", "reason": ready_reason}
        elif any("running" in s["state"] for s in statuses):
            phase = "Running"
            ready = {"status": "True" if all(s["ready"] for s in statuses) else "False"}
        else:
            phase = "Pending"
            ready = {"status": "False", "reason": "ContainersNotReady"}
        pod["status"]["phase"] = phase
        pod["status"]["conditions"] = [
            {
                "type": "PodScheduled",
                "status": "True",
                "lastProbeTime": None,
                "lastTransitionTime": pod["status"]["startTime"],
            },
            {
                "type": "Initialized",
                "status": "True",
                "lastProbeTime": None,
                "lastTransitionTime": pod["status"]["startTime"],
            },
            {"type": "ContainersReady", "lastProbeTime": None, "lastTransitionTime": now, **ready},
            {"type": "Ready", "lastProbeTime": None, "lastTransitionTime": now, **ready},
        ]
        pod["metadata"]["resourceVersion"] = self._next_version()
        if runtime.job:
            self._reconcile_job(runtime.namespace, runtime.job)

    # --- logs -----------------------------------------------------------------------------------

    def pod_log(self, ns: str, name: str, query: dict[str, str]) -> bytes:
        with self._lock:
            pod = self._objects.get(("pods", ns, name))
            if pod is None:
                raise _not_found(RESOURCES["pods"], name)
            names = [c["name"] for c in pod["spec"]["containers"]]
            container = query.get("container") or ""
            if not container:
                if len(names) > 1:
                    raise ApiError(
                        400,
                        "BadRequest",
                        f"a container name must be specified for pod {name}, choose one of {names}",
                    )
                container = names[0]
            if container not in names:
                raise ApiError(
                    400, "BadRequest", f"container {container} is not valid for pod {name}"
                )
            runtime = self._pods.get((ns, name))
            container_id = runtime.containers.get(container) if runtime else None
            if container_id is None:
                waiting = next(
                    (
                        s["state"].get("waiting", {})
                        for s in pod["status"]["containerStatuses"]
                        if s["name"] == container
                    ),
                    {},
                )
                raise ApiError(
                    400,
                    "BadRequest",
                    f'container "{container}" in pod "{name}" is waiting to start: '
                    + waiting.get("reason", "ContainerCreating"),
                )
        if _truthy(query.get("previous")):
            raise ApiError(
                400,
                "BadRequest",
                f'previous terminated container "{container}" in pod "{name}" not found',
            )
        kwargs: dict[str, Any] = {
            "stdout": True,
            "stderr": True,
            "timestamps": _truthy(query.get("timestamps")),
        }
        if query.get("tailLines"):
            kwargs["tail"] = max(int(query["tailLines"]), 0)
        if query.get("sinceSeconds"):
            kwargs["since"] = int(time.time()) - int(query["sinceSeconds"])
        try:
            data = self._docker().api.logs(container_id, **kwargs)
        except docker.errors.NotFound as error:
            raise _not_found(RESOURCES["pods"], name) from error
        if query.get("limitBytes"):
            data = data[: int(query["limitBytes"])]
        return data


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    if not isinstance(target, dict):
        target = {}
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = _merge_patch(target.get(key), value)
    return target


def _container_state(container_id: str | None, inspected: bool, inspect: dict | None) -> dict:
    """A Kubernetes ContainerState from ``docker inspect`` (``None``: the container is gone)."""
    if container_id is None or not inspected:
        return {"waiting": {"reason": "ContainerCreating"}}
    if inspect is None:
        return {
            "terminated": {
                "exitCode": 137,
                "reason": "ContainerStatusUnknown",
                "message": "The container could not be located when the pod was terminated",
            }
        }
    docker_state = inspect["State"]
    started_at = _docker_time(docker_state.get("StartedAt"))
    error = docker_state.get("Error")
    if docker_state.get("Running") or docker_state.get("Status") == "running":
        return {"running": {"startedAt": started_at}}
    if docker_state.get("Status") == "created" and not error:
        return {"waiting": {"reason": "ContainerCreating"}}
    exit_code = int(docker_state.get("ExitCode") or 0)
    if error and exit_code == 0:
        exit_code = 128
    reason = "Completed" if exit_code == 0 else "Error"
    if docker_state.get("OOMKilled"):
        reason = "OOMKilled"
    elif error:
        reason = "StartError"
    terminated = {
        "exitCode": exit_code,
        "reason": reason,
        "startedAt": started_at or _now(),
        "finishedAt": _docker_time(docker_state.get("FinishedAt")) or _now(),
        "containerID": f"docker://{container_id}",
    }
    if error:
        terminated["message"] = error
    return {"terminated": terminated}
