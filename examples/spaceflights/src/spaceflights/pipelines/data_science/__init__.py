"""Fit and evaluate a linear price model, once per modelling namespace."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
