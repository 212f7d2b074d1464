"""`kb calibrate model`: the label-free thresholds of kb/calibration.py mapped from the shipped model to the
configured one, by leave-one-out on the user's own card questions under both (see kb/calibration.py)."""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TypedDict

import numpy as np

from kb.calibration import BY_NAME, CALIBRATION_FILE, RECALIBRATED, SHIPPED, THRESHOLDS
from kb.retrieval.search import _card_scores, fuse

SAMPLE = 500  # card questions asked when recalibrating: enough for stable moments at any corpus size
UNIVERSE = 2000  # cards they are asked against (both models embed these)


class RecalibrationRecord(TypedDict):
    """A Recalibration as JSON (what `kb calibrate model --json` prints and the index folder keeps)."""

    model: str
    cards: int
    shipped: dict[str, float]
    values: dict[str, float]
    moments: dict[str, list[float]]
    computed_at: str
    kept_with_shipped_values: list[str]  # the thresholds fitted on labels, kept at the shipped values


@dataclass
class Recalibration:
    model: str
    cards: int  # card questions asked
    shipped: dict[str, float]
    values: dict[str, float]
    moments: dict[str, list[float]]  # scale -> [shipped mean, shipped sd, model mean, model sd]
    computed_at: str

    def to_dict(self) -> RecalibrationRecord:
        return {"model": self.model, "cards": self.cards, "shipped": self.shipped, "values": self.values, "moments": self.moments,
                "computed_at": self.computed_at, "kept_with_shipped_values": [t.name for t in THRESHOLDS if t.needs_labels]}


def leave_one_out(vectors: np.ndarray, lexical_rows: list[np.ndarray] | None, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each sampled card, its question asked with the card left out: the best other card's dense score,
    and its best fused score when `lexical_rows` (the BM25 scores of each sampled question) are given."""
    dense_best, fused_best = np.empty(len(rows)), np.empty(len(rows))
    for j, i in enumerate(rows):
        dense = _card_scores(vectors, vectors[i, 0]).astype(np.float64)
        dense[i] = -np.inf
        dense_best[j] = dense.max()
        if lexical_rows is not None:
            fused = fuse(np.where(np.isfinite(dense), dense, 0.0), lexical_rows[j]).astype(np.float64)
            fused[i] = -np.inf
            fused_best[j] = fused.max()
    return dense_best, fused_best


def recalibrate(questions: list[str], model_vectors: np.ndarray, shipped_vectors: np.ndarray, lexical_scores: Callable[[str], np.ndarray], model: str,
                seed: int = 0) -> Recalibration:
    """Map each label-free threshold from the shipped model's leave-one-out distribution to the configured
    model's, both measured on the same cards (`*_vectors`: [n, 2, dim] question and question+answer vectors;
    `lexical_scores(question)`: the BM25 score of each of those n cards)."""
    n = len(questions)
    rows = np.arange(n) if n <= SAMPLE else np.sort(np.random.default_rng(seed).choice(n, SAMPLE, replace=False))
    lexical_rows = [lexical_scores(questions[i]) for i in rows]
    shipped_dense, shipped_fused = leave_one_out(shipped_vectors, lexical_rows, rows)
    model_dense, model_fused = leave_one_out(model_vectors, lexical_rows, rows)
    moments = {
        "dense": [float(shipped_dense.mean()), float(shipped_dense.std()), float(model_dense.mean()), float(model_dense.std())],
        "fused": [float(shipped_fused.mean()), float(shipped_fused.std()), float(model_fused.mean()), float(model_fused.std())],
    }
    values = {}
    for name in RECALIBRATED:
        t = BY_NAME[name]
        if t.scale == "dense_margin":
            mean_s, sd_s, mean_m, sd_m = moments["dense"]
            values[name] = round(t.value * (sd_m / sd_s if sd_s > 0 else 1.0), 4)
        else:
            mean_s, sd_s, mean_m, sd_m = moments[t.scale]
            values[name] = round(mean_m + (t.value - mean_s) * (sd_m / sd_s if sd_s > 0 else 1.0), 4)
    return Recalibration(model, len(rows), dict(SHIPPED.values), values, {k: [round(v, 4) for v in m] for k, m in moments.items()},
                         datetime.now(timezone.utc).isoformat(timespec="seconds"))


def save(recalibration: Recalibration, index_dir: Path) -> Path:
    path = Path(index_dir) / CALIBRATION_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(recalibration.to_dict(), indent=1), encoding="utf-8")
    tmp.replace(path)
    return path
