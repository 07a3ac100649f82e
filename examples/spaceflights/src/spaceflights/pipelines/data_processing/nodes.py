"""Node functions for the data processing pipeline."""

from __future__ import annotations

import pandas as pd


def _flag_to_bool(column: pd.Series) -> pd.Series:
    """Turn the raw ``t``/``f`` flags into booleans."""
    return column.eq("t")


def _percent_to_float(column: pd.Series) -> pd.Series:
    """Turn strings like ``"87%"`` into ``0.87`` (missing stays missing)."""
    return pd.to_numeric(column.str.rstrip("%"), errors="coerce") / 100.0


def _money_to_float(column: pd.Series) -> pd.Series:
    """Turn strings like ``"$1,325.50"`` into ``1325.5``."""
    cleaned = column.str.replace("$", "", regex=False).str.replace(",", "", regex=False)
    return pd.to_numeric(cleaned, errors="coerce")


def preprocess_companies(companies: pd.DataFrame) -> pd.DataFrame:
    """Parse rating percentages and IATA approval flags."""
    out = companies.copy()
    out["company_rating"] = _percent_to_float(out["company_rating"].astype("str"))
    out["iata_approved"] = _flag_to_bool(out["iata_approved"])
    return out.sort_values("id", kind="stable").reset_index(drop=True)


def preprocess_shuttles(shuttles: pd.DataFrame) -> pd.DataFrame:
    """Parse check flags and prices."""
    out = shuttles.copy()
    for flag in ("d_check_complete", "moon_clearance_complete"):
        out[flag] = _flag_to_bool(out[flag])
    out["price"] = _money_to_float(out["price"])
    return out.sort_values("id", kind="stable").reset_index(drop=True)


def create_model_input_table(
    shuttles: pd.DataFrame, companies: pd.DataFrame, reviews: pd.DataFrame
) -> pd.DataFrame:
    """Join shuttles with their reviews and operating company, drop incomplete rows."""
    rated = shuttles.merge(reviews, left_on="id", right_on="shuttle_id", how="inner").drop(
        columns="id"
    )
    table = rated.merge(
        companies.rename(columns={"id": "company_id"}), on="company_id", how="inner"
    )
    table = table.dropna()
    return table.sort_values("shuttle_id", kind="stable").reset_index(drop=True)
