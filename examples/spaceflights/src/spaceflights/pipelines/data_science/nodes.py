"""Node functions for the data science pipeline.

The regressor is a plain ordinary-least-squares fit done with numpy so that
the project does not depend on scikit-learn.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)


@dataclass
class LinearRegressor:
    """Coefficients of a fitted least-squares model (picklable, no state besides data)."""

    features: list[str]
    coefficients: list[float] = field(default_factory=list)
    intercept: float = 0.0

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        values = X[self.features].to_numpy(dtype="float64")
        return values @ np.asarray(self.coefficients, dtype="float64") + self.intercept


def split_data(
    data: pd.DataFrame, parameters: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    """Split the model input table into train and test sets.

    The rows are shuffled with ``numpy.random.default_rng(random_state)``, so the
    split only depends on the parameters and the input data.
    """
    features = list(parameters["features"])
    target = parameters.get("target", "price")
    test_size = float(parameters["test_size"])
    rng = np.random.default_rng(int(parameters["random_state"]))

    order = rng.permutation(len(data))
    n_test = round(len(data) * test_size)
    test_rows, train_rows = order[:n_test], order[n_test:]

    X = data[features].astype("float64")
    y = data[target].astype("float64")
    return (
        X.iloc[train_rows].reset_index(drop=True),
        X.iloc[test_rows].reset_index(drop=True),
        y.iloc[train_rows].reset_index(drop=True),
        y.iloc[test_rows].reset_index(drop=True),
    )


def train_model(X_train: pd.DataFrame, y_train: pd.Series) -> LinearRegressor:
    """Fit ``price ~ features + intercept`` with ``numpy.linalg.lstsq``."""
    design = np.column_stack([X_train.to_numpy(dtype="float64"), np.ones(len(X_train))])
    solution, *_ = np.linalg.lstsq(design, y_train.to_numpy(dtype="float64"), rcond=None)
    return LinearRegressor(
        features=list(X_train.columns),
        coefficients=[float(c) for c in solution[:-1]],
        intercept=float(solution[-1]),
    )


def evaluate_model(
    regressor: LinearRegressor, X_test: pd.DataFrame, y_test: pd.Series
) -> dict[str, float]:
    """Compute R^2 and mean absolute error on the test set and log them."""
    actual = y_test.to_numpy(dtype="float64")
    predicted = regressor.predict(X_test)
    residual = actual - predicted
    total = float(np.sum((actual - actual.mean()) ** 2))
    r2 = 1.0 - float(np.sum(residual**2)) / total if total else 0.0
    mae = float(np.mean(np.abs(residual)))
    metrics = {"r2": round(r2, 6), "mae": round(mae, 6), "n_test": len(actual)}
    logger.info(
        "Model has R^2 of %.3f and MAE of %.2f on %d test rows",
        metrics["r2"],
        metrics["mae"],
        metrics["n_test"],
    )
    return metrics
