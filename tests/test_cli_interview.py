"""`kb grade` and `kb interview` as real subprocesses over the shipped notes, with stdin as the user."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.support import ROOT, kb_env, kb_subprocess


@pytest.fixture(scope="module")
def env(shipped_kb, tmp_path_factory):
    """The shipped_kb's corpus and (already built) index, and a fresh data folder."""
    data = tmp_path_factory.mktemp("cli-data")
    return kb_env(KB_CORPUS=str(shipped_kb.config.corpus), KB_INDEX=str(shipped_kb.config.index), KB_DATA=str(data))


def kb(args, env, stdin=None, timeout=300):
    return kb_subprocess(*args, env=env, cwd=ROOT, input=stdin, timeout=timeout)


def test_grade_json(env):
    result = kb(["grade", "--question", "how-does-ppo-work-why-the-clip", "--answer",
                 "Clipping the probability ratio stops the new policy from moving too far from the old one in a single update.", "--json"], env)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert set(out) >= {"score", "covered", "missed"}
    assert 0 <= out["score"] <= 100 and out["covered"] and out["missed"]


def test_grade_queries_file_keeps_order_and_reports_bad_lines(env, tmp_path):
    queries = tmp_path / "answers.jsonl"
    rows = [
        {"question": "What is focal loss?", "answer": "It down-weights easy examples by (1-p)^gamma to fight class imbalance."},
        {"question": "whats-the-difference-between-forward-and-reverse-kl", "answer": "Forward KL is mode-seeking and reverse KL is mode-covering."},
        {"question": "whats-the-difference-between-forward-and-reverse-kl", "answer": "Forward KL is mode-covering and reverse KL is mode-seeking."},
    ]
    queries.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    result = kb(["grade", "--queries", str(queries), "--json"], env)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["card_id"] for line in lines] == ["what-is-focal-loss", "whats-the-difference-between-forward-and-reverse-kl",
                                                   "whats-the-difference-between-forward-and-reverse-kl"]
    assert lines[1]["score"] < lines[2]["score"]

    queries.write_text('{"question": "x", "answer": "y"}\nnot json\n', encoding="utf-8")
    bad = kb(["grade", "--queries", str(queries), "--json"], env)
    assert bad.returncode == 1
    assert f"{queries}:2" in bad.stderr and "Traceback" not in bad.stderr


def test_interview_driven_through_stdin(env):
    script = "\n".join([
        "hint",
        "It down-weights easy, well-classified examples with a (1 - p)^gamma factor so training focuses on the hard ones, for class imbalance.",
        "good",  # rating override after the grade
        "repeat",
        "skip",
        "end",
    ]) + "\n"
    result = kb(["interview", "--family", "Classification", "--length", "3", "--mode", "random", "--seed", "7", "--profile", "ana"], env, stdin=script)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Q1." in out and "Hint:" in out and "Best score still possible: 85" in out
    assert "Score:" in out and "Model answer" in out and "Suggested rating" in out
    assert "Rating set to Good" in out
    assert "How does that connect to" in out
    assert "Interview summary" in out and "skipped" in out

    database = Path(env["KB_DATA"]) / "progress.sqlite3"
    rows = sqlite3.connect(database).execute("SELECT profile, rating, hints FROM reviews").fetchall()
    assert rows == [("ana", "good", 1)]


def test_interview_ends_cleanly_at_end_of_input(env):
    result = kb(["interview", "--length", "2", "--profile", "ben"], env, stdin="")
    assert result.returncode == 0, result.stderr
    assert "Interview summary" in result.stdout


def test_a_corrupt_progress_database_is_a_clear_error(env, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "progress.sqlite3").write_bytes(b"garbage" * 100)
    result = kb(["interview", "--data", str(data)], {**env, "KB_DATA": ""}, stdin="end\n")
    assert result.returncode == 1
    assert str(data / "progress.sqlite3") in result.stderr and "move it aside" in result.stderr
    assert "Traceback" not in result.stderr
    assert (data / "progress.sqlite3").read_bytes() == b"garbage" * 100


def test_unknown_family_is_a_clear_error(env):
    result = kb(["interview", "--family", "Astrology"], env, stdin="")
    assert result.returncode == 1 and "unknown family 'Astrology'" in result.stderr


def test_interview_takes_corrections_after_a_grade(env):
    script = "\n".join([
        "It scales cross-entropy down for the easy, confident examples.",
        "said 1",  # key point 1 was said after all
        "wrong",  # and the whole answer was wrong
        "",  # then accept the suggested rating
        "end",
    ]) + "\n"
    result = kb(["interview", "--family", "Classification", "--length", "1", "--mode", "random", "--seed", "7", "--profile", "cora"], env, stdin=script)
    assert result.returncode == 0, result.stderr
    assert "point 1 [" in result.stdout and result.stdout.count("Score after your corrections") == 2
    database = Path(env["KB_DATA"]) / "progress.sqlite3"
    db = sqlite3.connect(database)
    labels = db.execute("SELECT label FROM labelled_answers WHERE profile='cora' ORDER BY id").fetchall()
    assert labels == [("",), ("wrong",)]
    assert db.execute("SELECT said FROM point_marks").fetchall() == [(1,)]
    assert db.execute("SELECT COUNT(*) FROM reviews WHERE profile='cora'").fetchone()[0] == 1  # one answer, one review
