"""Generate the synthetic raw CSVs shipped in ``data/01_raw``.

The files are committed to the repository, so this script only needs to be run
again if the generator itself changes. It uses a fixed seed and explicit
formatting, so re-running it reproduces the same bytes.

Usage (from the project root)::

    python scripts/make_raw_data.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20240611
N_COMPANIES = 200
N_SHUTTLES = 400
REVIEWED_SHARE = 0.95

RAW_DIR = Path(__file__).resolve().parents[1] / "data" / "01_raw"

LOCATIONS = [
    "Alpha Centauri Port",
    "Ceres Station",
    "Europa Docks",
    "Ganymede Yard",
    "Luna Gateway",
    "Mars Olympus Hub",
    "Phobos Terminal",
    "Titan Harbour",
]
SHUTTLE_TYPES = ["Type A1", "Type B3", "Type C5", "Type D7"]
ENGINE_TYPES = ["Ion", "Plasma", "Quantum"]
ENGINE_VENDORS = ["Helix Propulsion", "Kepler Motors", "Nova Dynamics", "Orbital Works"]
CANCELLATION_POLICIES = ["flexible", "moderate", "strict"]


def _flag(values: np.ndarray) -> list[str]:
    """Encode booleans the way the raw source does: ``t`` / ``f``."""
    return ["t" if v else "f" for v in values]


def _with_missing(rng: np.random.Generator, values: np.ndarray, share: float) -> pd.Series:
    """Return an integer series where roughly ``share`` of entries are missing."""
    series = pd.Series(values, dtype="Int64")
    series[rng.random(len(values)) < share] = pd.NA
    return series


def make_companies(rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    ids = np.arange(10001, 10001 + N_COMPANIES)
    rating = rng.integers(40, 101, size=N_COMPANIES)
    rating_text = [f"{r}%" for r in rating]
    missing = rng.random(N_COMPANIES) < 0.06
    rating_text = ["" if m else t for m, t in zip(missing, rating_text, strict=False)]
    iata = rng.random(N_COMPANIES) < 0.6

    companies = pd.DataFrame(
        {
            "id": ids,
            "company_rating": rating_text,
            "company_location": rng.choice(LOCATIONS, size=N_COMPANIES),
            "total_fleet_count": rng.integers(1, 13, size=N_COMPANIES),
            "iata_approved": _flag(iata),
        }
    )
    # Latent (never missing) values used to build a learnable price signal.
    latent = np.column_stack([rating, iata.astype(int)])
    return companies, latent


def make_reviews(
    rng: np.random.Generator, shuttle_ids: np.ndarray
) -> tuple[pd.DataFrame, np.ndarray]:
    n = len(shuttle_ids)
    overall = rng.integers(60, 101, size=n)

    def sub_score() -> np.ndarray:
        return rng.integers(4, 11, size=n)

    reviews = pd.DataFrame(
        {
            "shuttle_id": shuttle_ids,
            "review_scores_rating": _with_missing(rng, overall, 0.04),
            "review_scores_comfort": sub_score(),
            "review_scores_amenities": sub_score(),
            "review_scores_trip": sub_score(),
            "review_scores_crew": sub_score(),
            "review_scores_location": sub_score(),
            "review_scores_price": sub_score(),
            "number_of_reviews": rng.integers(1, 250, size=n),
            "reviews_per_month": np.round(rng.uniform(0.1, 9.0, size=n), 2),
        }
    )
    reviewed = rng.random(n) < REVIEWED_SHARE
    return reviews[reviewed].reset_index(drop=True), overall


def make_shuttles(
    rng: np.random.Generator, company_latent: np.ndarray, review_latent: np.ndarray
) -> pd.DataFrame:
    ids = np.arange(50001, 50001 + N_SHUTTLES)
    company_idx = rng.integers(0, N_COMPANIES, size=N_SHUTTLES)
    engines = rng.integers(1, 5, size=N_SHUTTLES)
    capacity = rng.integers(2, 13, size=N_SHUTTLES)
    crew = rng.integers(1, 7, size=N_SHUTTLES)
    d_check = rng.random(N_SHUTTLES) < 0.7
    moon = rng.random(N_SHUTTLES) < 0.3

    company_rating = company_latent[company_idx, 0]
    iata = company_latent[company_idx, 1]
    price = (
        250.0
        + 120.0 * engines
        + 85.0 * capacity
        + 40.0 * crew
        + 150.0 * d_check
        + 200.0 * moon
        + 4.0 * company_rating
        + 100.0 * iata
        + 6.0 * (review_latent - 80)
        + rng.normal(0.0, 90.0, size=N_SHUTTLES)
    )
    price = np.maximum(price, 99.0)

    return pd.DataFrame(
        {
            "id": ids,
            "shuttle_location": rng.choice(LOCATIONS, size=N_SHUTTLES),
            "shuttle_type": rng.choice(SHUTTLE_TYPES, size=N_SHUTTLES),
            "engine_type": rng.choice(ENGINE_TYPES, size=N_SHUTTLES),
            "engine_vendor": rng.choice(ENGINE_VENDORS, size=N_SHUTTLES),
            "engines": _with_missing(rng, engines, 0.03),
            "passenger_capacity": capacity,
            "cancellation_policy": rng.choice(CANCELLATION_POLICIES, size=N_SHUTTLES),
            "crew": _with_missing(rng, crew, 0.05),
            "d_check_complete": _flag(d_check),
            "moon_clearance_complete": _flag(moon),
            "price": [f"${p:,.2f}" for p in price],
            "company_id": 10001 + company_idx,
        }
    )


BOOKING_DAYS = 7
BOOKINGS_PER_DAY = 30


def make_bookings(rng: np.random.Generator, shuttle_ids: np.ndarray) -> dict[str, pd.DataFrame]:
    """One table of bookings per day of January 2024 (the partitions of ``daily_bookings``)."""
    return {
        f"2024-01-{day:02d}": pd.DataFrame(
            {
                "shuttle_id": rng.choice(shuttle_ids, size=BOOKINGS_PER_DAY),
                "passengers": rng.integers(1, 9, size=BOOKINGS_PER_DAY),
            }
        )
        for day in range(1, BOOKING_DAYS + 1)
    }


def main() -> None:
    rng = np.random.default_rng(SEED)
    companies, company_latent = make_companies(rng)
    shuttle_ids = np.arange(50001, 50001 + N_SHUTTLES)
    reviews, review_latent = make_reviews(rng, shuttle_ids)
    shuttles = make_shuttles(rng, company_latent, review_latent)

    RAW_DIR.mkdir(parents=True, exist_ok=True)
    for name, frame in [
        ("companies", companies),
        ("reviews", reviews),
        ("shuttles", shuttles),
    ]:
        path = RAW_DIR / f"{name}.csv"
        frame.to_csv(path, index=False, lineterminator="\n")
        print(f"wrote {len(frame):>4} rows to {path.relative_to(RAW_DIR.parents[1])}")
    # A generator of its own, so adding the bookings left the three tables above unchanged.
    bookings_dir = RAW_DIR / "bookings"
    bookings_dir.mkdir(exist_ok=True)
    for day, frame in make_bookings(np.random.default_rng(SEED + 1), shuttle_ids).items():
        frame.to_csv(bookings_dir / f"{day}.csv", index=False, lineterminator="\n")
    print(f"wrote {BOOKING_DAYS} days of bookings to data/01_raw/bookings")


if __name__ == "__main__":
    main()
