"""Nodes that log to MLflow the three ways a kedro-mlflow project does."""

from __future__ import annotations

import os

import mlflow


def fit(numbers: list[int], alpha: float) -> float:
    """Returns a score (saved by an MlflowMetricDataset); ``alpha`` is logged as a param."""
    return alpha * sum(numbers)


def part(numbers: list[int], score: float, index: int) -> float:
    """Logs straight from node code: a value and the process the node ran in."""
    value = float(numbers[index])
    mlflow.log_metric(f"part_{index}", value)
    mlflow.log_metric(f"pid_part_{index}", os.getpid())
    return value


def report(score: float, *parts: float) -> str:
    """Text logged as an artifact through an MlflowArtifactDataset."""
    return f"score={score} parts={list(parts)}"


def total(*parts: float) -> float:
    """Saved by an MlflowMetricDataset."""
    return sum(parts)


def explode(score: float) -> float:
    raise RuntimeError("explode refused the score")
