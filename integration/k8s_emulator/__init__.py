"""A small Kubernetes API emulator whose Jobs run their pod as a local Docker container.

It serves the subset of the Kubernetes REST API that ``dagster-k8s`` (``K8sRunLauncher``,
``k8s_job_executor``, ``DagsterKubernetesClient``) uses, so those code paths can be tested on a
machine without a cluster. See ``README.md`` beside this file for what is covered.
"""

from __future__ import annotations

from .server import EMULATOR_LABEL, K8sEmulator

__all__ = ["EMULATOR_LABEL", "K8sEmulator"]
