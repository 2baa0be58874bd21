"""Data sets other than the taxi sample, built without a download: generated, or shipped in a package.

- `customer_tiers`: generated with a known rule. Each customer's tier
  (bronze, silver, gold) is the tercile of a latent score: income (log),
  plan, region, age and visits plus Gaussian noise. Mixed types: floats with
  missing values, integers, strings with and without missing values, an id
  to exclude. The noise caps any model's accuracy; `TIER_NOISE` sets it.
- `diabetes`: scikit-learn's bundled diabetes data (442 patients, 10
  measurements, a disease-progression score to predict), unscaled.
"""

from __future__ import annotations

import csv
import pathlib
from collections.abc import Sequence

import numpy as np

__all__ = ["TIER_CLASSES", "customer_tiers", "diabetes", "write_csv"]

TIER_CLASSES = ("bronze", "silver", "gold")
TIER_NOISE = 0.5
_REGIONS = ("north", "south", "east", "west")
_PLANS = ("free", "basic", "pro", "team")


def customer_tiers(num_rows: int = 3000, seed: int = 0) -> list[dict[str, str]]:
    """Rows of CSV strings; `tier` is the label, `customer_id` an id to exclude."""
    rng = np.random.default_rng(seed)
    income = rng.lognormal(mean=10.5, sigma=0.5, size=num_rows)
    age = rng.integers(18, 80, size=num_rows)
    region = rng.choice(_REGIONS, size=num_rows, p=[0.3, 0.3, 0.2, 0.2])
    plan = rng.choice(_PLANS, size=num_rows, p=[0.4, 0.3, 0.2, 0.1])
    visits = rng.poisson(5, size=num_rows)

    def standard(values: np.ndarray) -> np.ndarray:
        return (values - values.mean()) / values.std()

    score = (
        1.2 * standard(np.log(income))
        + 0.9 * np.isin(plan, ["pro", "team"])
        + 0.5 * (region == "north")
        - 0.4 * standard(age.astype(float))
        + 0.3 * standard(visits.astype(float))
        + rng.normal(0.0, TIER_NOISE, size=num_rows)
    )
    low, high = np.quantile(score, [1 / 3, 2 / 3])
    tier = np.where(score > high, "gold", np.where(score > low, "silver", "bronze"))
    income_missing = rng.random(num_rows) < 0.05
    region_missing = rng.random(num_rows) < 0.02
    return [
        {
            "customer_id": str(100000 + index),
            "income": "" if income_missing[index] else f"{income[index]:.2f}",
            "age": str(age[index]),
            "region": "" if region_missing[index] else str(region[index]),
            "plan": str(plan[index]),
            "visits": str(visits[index]),
            "tier": str(tier[index]),
        }
        for index in range(num_rows)
    ]


def diabetes() -> list[dict[str, str]]:
    """scikit-learn's diabetes data as rows of CSV strings; `progression` is the label."""
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes(scaled=False)
    rows = []
    for values, target in zip(bunch.data, bunch.target, strict=True):
        row = {name: f"{value:g}" for name, value in zip(bunch.feature_names, values, strict=True)}
        row["sex"] = str(int(values[list(bunch.feature_names).index("sex")]))
        row["progression"] = f"{target:g}"
        rows.append(row)
    return rows


def write_csv(path: pathlib.Path, rows: Sequence[dict[str, str]]) -> pathlib.Path:
    """Writes rows with a header; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path
