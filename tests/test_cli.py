"""The `kb` command through `python -m kb` in a subprocess: output shapes, exit codes, one-line errors."""
from __future__ import annotations

import json
import re

import pytest

from tests.support import SHIPPED_CORPUS, copy_shipped_corpus, kb_env, kb_subprocess

NOTE = (SHIPPED_CORPUS / "losses-in-deep-learning.md").read_text(encoding="utf-8")


def run(*args, env=None, cwd=None):
    """`python -m kb ARGS` with none of the developer's KB_* variables, only `env`'s."""
    return kb_subprocess(*args, env=kb_env(**(env or {})), cwd=cwd)


def ok(result):
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


def one_line_error(result) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("kb: error: ")
    return lines[0]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A copy of the shipped corpus and an index built by `kb build --corpus --index`."""
    base = tmp_path_factory.mktemp("cli")
    corpus = copy_shipped_corpus(base)
    result = ok(run("build", "--corpus", corpus, "--index", base / "index", cwd=base))
    return base, corpus, base / "index", result


def flags(built):
    base, corpus, index, _ = built
    return ["--corpus", corpus, "--index", index]


def test_help_lists_the_core_commands():
    result = ok(run("--help"))
    for command in ("build", "search", "cards", "show"):
        assert re.search(rf"^\s+{command}\s", result.stdout, re.M), command
    for command in ("build", "search", "cards", "show"):
        sub = ok(run(command, "--help")).stdout
        assert "--corpus" in sub and "--index" in sub and "KB_CORPUS" in sub and "KB_INDEX" in sub


def test_build_reports_cards_and_families(built):
    base, corpus, index, result = built
    assert f"built index at {index}: 59 cards in 14 families; re-embedded 59, reused 0; 0 warning(s)" in result.stdout
    assert {p.name for p in index.iterdir()} >= {"manifest.json", "cards.json", "vectors.npy", "index.faiss"}
    again = ok(run("build", *flags(built)))
    assert "loaded index" in again.stdout and "re-embedded 0, reused 59" in again.stdout


def test_environment_variables_work_like_flags(built):
    base, corpus, index, _ = built
    result = ok(run("cards", "--json", env={"KB_CORPUS": str(corpus), "KB_INDEX": str(index)}, cwd=base))
    rows = json.loads(result.stdout)
    assert len(rows) == 59
    assert set(rows[0]) >= {"id", "question", "family"}
    assert len({r["family"] for r in rows}) == 14
    assert len({r["id"] for r in rows}) == 59


def test_cards_family_filter(built):
    section = NOTE.split("## RL Policy Losses", 1)[1].split("\n## ", 1)[0]
    expected = re.findall(r"^### Q: (.+)$", section, re.M)
    rows = json.loads(ok(run("cards", "--family", "rl policy losses", "--json", *flags(built))).stdout)
    assert [r["question"] for r in rows] == expected
    assert {r["family"] for r in rows} == {"RL Policy Losses"}
    text = ok(run("cards", "--family", "RL Policy Losses", *flags(built))).stdout
    assert len(text.strip().splitlines()) == len(expected)


def test_search_json_shape(built):
    result = ok(run("search", "why does PPO clip the probability ratio", "-k", "3", "--json", *flags(built)))
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    out = json.loads(lines[0])
    assert out["query"] == "why does PPO clip the probability ratio"
    assert len(out["hits"]) == 3
    for hit in out["hits"]:
        assert set(hit) >= {"id", "question", "family", "score"}
        assert isinstance(hit["score"], float)
    scores = [h["score"] for h in out["hits"]]
    assert scores == sorted(scores, reverse=True)
    assert out["hits"][0]["id"] == "how-does-ppo-work-why-the-clip"


def test_search_text_output_and_family_filter(built):
    text = ok(run("search", "huber loss", "-k", "2", *flags(built))).stdout
    assert text.splitlines()[0].lstrip().startswith("1.")
    out = json.loads(ok(run("search", "huber loss", "--family", "Quick-Fire Round", "-k", "5", "--json", *flags(built))).stdout)
    assert out["hits"] and {h["family"] for h in out["hits"]} == {"Quick-Fire Round"}


def test_search_queries_file_gives_one_json_line_per_query_in_order(built, tmp_path):
    plain = tmp_path / "queries.txt"
    plain.write_text("why clip in PPO\n\npinball loss for quantiles\nWGAN\n", encoding="utf-8")
    result = ok(run("search", "--queries", plain, "--json", "-k", "2", *flags(built)))
    rows = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [r["query"] for r in rows] == ["why clip in PPO", "pinball loss for quantiles", "WGAN"]
    assert all(len(r["hits"]) == 2 and set(r["hits"][0]) >= {"id", "question", "family", "score"} for r in rows)

    jsonl = tmp_path / "queries.jsonl"
    jsonl.write_text(
        "\n".join(json.dumps(q) for q in [{"query": "reverse KL", "expected": ["x"]}, {"query": "  "}, {"query": "focal loss"}]) + "\n",
        encoding="utf-8",
    )
    result = ok(run("search", "--queries", jsonl, "--json", *flags(built)))
    rows = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [r["query"] for r in rows] == ["reverse KL", "  ", "focal loss"]
    assert len(rows[0]["hits"]) == 5 and rows[1]["hits"] == [] and "empty query" in rows[1]["error"]
    assert rows[2]["hits"][0]["id"] == "what-is-focal-loss"


@pytest.mark.parametrize("query", ["", "   "])
def test_empty_query_is_one_line_and_exit_1(built, query):
    line = one_line_error(run("search", query, *flags(built)))
    assert "empty query" in line


def test_missing_query_is_one_line(built):
    assert "give a QUERY or --queries FILE" in one_line_error(run("search", *flags(built)))


def test_long_query_is_handled(built):
    out = json.loads(ok(run("search", "contrastive loss negatives " * 400, "--json", *flags(built))).stdout)
    assert len(out["hits"]) == 5


def test_show_renders_a_card(built):
    text = ok(run("show", "how-does-ppo-work-why-the-clip", *flags(built))).stdout
    assert text.splitlines()[0] == "How does PPO work? Why the clip?"
    assert "RL Policy Losses · losses-in-deep-learning.md:218" in text
    assert "clip(r(θ), 1-ϵ, 1+ϵ)" in text and "\\theta" not in text  # formulas as unicode (kb/cli/terminal.py)
    assert "The clip prevents catastrophic policy updates." in text  # bold markers gone, no stray escape codes
    assert "[1m" not in text and "**" not in text and "\x1b" not in text
    card = json.loads(ok(run("show", "how-does-ppo-work-why-the-clip", "--json", *flags(built))).stdout)
    assert card["line_start"] == 218 and card["family"] == "RL Policy Losses" and "\\hat{A}" in card["answer_md"]


def test_every_subcommand_takes_the_shared_options():
    import click

    from kb.cli import main

    for name, command in main.commands.items():
        if isinstance(command, click.Group):
            continue  # a group (anki, fsrs) takes no options itself; its commands are checked where they are tested
        options = {opt: p for p in command.params for opt in p.opts}
        for flag, env in (("--corpus", "KB_CORPUS"), ("--index", "KB_INDEX"), ("--model", "KB_MODEL")):
            assert flag in options and options[flag].envvar == env, (name, flag)


def test_unknown_card_and_family_are_one_line_errors(built):
    assert "no card with id 'no-such-card'; `kb cards` lists the ids" in one_line_error(run("show", "no-such-card", *flags(built)))
    assert "did you mean how-does-ppo-work-why-the-clip?" in one_line_error(run("show", "how-does-ppo-work-why-clip", *flags(built)))
    assert "unknown family 'Nope'" in one_line_error(run("search", "loss", "--family", "Nope", *flags(built)))
    assert "unknown family" in one_line_error(run("cards", "--family", "Nope", *flags(built)))


def test_commands_build_a_missing_index_and_update_a_stale_one(tmp_path):
    corpus = tmp_path / "notes"
    corpus.mkdir()
    (corpus / "a.md").write_text("## F\n\n### Q: What is MSE?\n\nMean squared error.\n", encoding="utf-8")
    env = {"KB_CORPUS": str(corpus), "KB_INDEX": str(tmp_path / "idx")}
    out = json.loads(ok(run("search", "squared error", "--json", env=env)).stdout)
    assert [h["id"] for h in out["hits"]] == ["what-is-mse"]
    assert (tmp_path / "idx" / "manifest.json").exists()

    (corpus / "b.md").write_text("## G\n\n### Q: What is MAE?\n\nMean absolute error.\n", encoding="utf-8")
    rows = json.loads(ok(run("cards", "--json", env=env)).stdout)
    assert [r["id"] for r in rows] == ["what-is-mse", "what-is-mae"]
    build = ok(run("build", env=env))
    assert "loaded index" in build.stdout and "re-embedded 0" in build.stdout


def test_bad_notes_warn_and_still_exit_0(tmp_path):
    corpus = tmp_path / "notes"
    corpus.mkdir()
    (corpus / "good.md").write_text("## F\n\n### Q: What is MSE?\n\nMean squared error.\n", encoding="utf-8")
    (corpus / "empty.md").write_text("")
    (corpus / "bin.md").write_bytes(b"\x00\x01\x02binary")
    (corpus / "latin.md").write_bytes("## F\n\n### Q: Caf\xe9?\n\nYes.\n".encode("latin-1"))
    result = ok(run("build", "--corpus", corpus, "--index", tmp_path / "idx"))
    assert "2 cards" in result.stdout
    assert "warning: empty.md: empty file" in result.stderr
    assert "warning: bin.md: binary file" in result.stderr
    assert "warning: latin.md:3: not valid UTF-8" in result.stderr


def test_nothing_indexable_exits_1(tmp_path):
    corpus = tmp_path / "notes"
    corpus.mkdir()
    (corpus / "empty.md").write_text("")
    result = run("build", "--corpus", corpus, "--index", tmp_path / "idx")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("kb: error: nothing could be indexed")
    assert "warning: empty.md: empty file" in result.stderr


def test_missing_corpus_folder_exits_1(tmp_path):
    line = one_line_error(run("cards", "--corpus", tmp_path / "nope", "--index", tmp_path / "idx"))
    assert "does not exist" in line and "KB_CORPUS" in line


def test_render_card_keeps_code_shows_formulas_and_strips_escapes():
    import click

    from kb.cli.terminal import render_card
    from kb.notes.corpus import parse_note

    long_code = "# a comment far longer than the terminal is wide, which must stay on one line as written"
    note = (
        "## F\n\n### Q: A?\n\nA long line with **bold words that cross the wrap boundary** and more words after them.\n\n"
        f"```python\n{long_code}\n```\n\n$$\n\\mathcal{{L}} = \\sum_i x_i\n$$\n\n\x1b[31mred\n"
    )
    text = click.unstyle(render_card(parse_note(note).cards[0], width=40))
    lines = text.split("\n")
    assert long_code in lines and "    ℒ = ∑ᵢ xᵢ" in lines  # a display formula as unicode, on its own indented line
    assert all(len(line) <= 40 for line in lines[3:6])
    assert "bold words that cross the wrap boundary" in " ".join(lines) and "**" not in text
    assert "\x1b" not in text and "[31m" in text  # the note's escape byte is dropped, its text kept


def test_a_corrupt_index_is_rebuilt_with_a_warning(tmp_path):
    corpus = tmp_path / "notes"
    corpus.mkdir()
    (corpus / "a.md").write_text("## F\n\n### Q: What is MSE?\n\nMean squared error.\n", encoding="utf-8")
    env = {"KB_CORPUS": str(corpus), "KB_INDEX": str(tmp_path / "idx")}
    ok(run("build", env=env))
    vectors = tmp_path / "idx" / "vectors.npy"
    vectors.write_bytes(vectors.read_bytes()[:100])
    result = ok(run("cards", "--json", env=env))
    assert [r["id"] for r in json.loads(result.stdout)] == ["what-is-mse"]
    assert "vectors.npy does not match its checksum" in result.stderr and "rebuilt" in result.stderr
    assert "loaded index" in ok(run("build", env=env)).stdout
