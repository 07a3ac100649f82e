"""Modular pipelines of the Spaceflights project."""
