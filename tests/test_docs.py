"""The docs cannot drift from the code: the generated CLI reference and settings table, the README's
size, its example note, and every relative link (and #anchor) in the README and the docs it links to."""
from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from kb.cli.main import main
from kb.cli.reference import REGENERATE, TABLE_BEGIN, TABLE_END, UPDATE_README, iter_commands, render_reference, render_settings_table
from kb.config import SETTINGS
from tests.support import ROOT

README = ROOT / "README.md"
CLI_DOC = ROOT / "docs" / "cli.md"
# The user docs written by hand; each one's links and anchors are checked like the README's.
LINKED_DOCS = [README] + [ROOT / "docs" / name for name in ("search.md", "grading.md", "reliability.md", "benchmarks.md")]
MAX_README_LINES = 300
LINK_RE = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE_RE = re.compile(r"^(```|````).*?^\1\s*$", re.S | re.M)


def commands() -> list[tuple[str, click.Command]]:
    return [(path, command) for path, command, _ctx in iter_commands(main)]


def test_cli_reference_is_up_to_date():
    assert CLI_DOC.exists(), f"docs/cli.md is missing; run `{REGENERATE}`"
    assert CLI_DOC.read_text(encoding="utf-8") == render_reference(main), (
        f"docs/cli.md is out of date with the commands' --help; run `{REGENERATE}`"
    )


def test_cli_reference_is_deterministic():
    assert render_reference(main) == render_reference(main)
    assert REGENERATE in render_reference(main).splitlines()[0]


def test_every_command_is_in_the_cli_reference():
    text = CLI_DOC.read_text(encoding="utf-8")
    paths = [path for path, _ in commands()]
    assert len(paths) > 5, paths
    for path in paths:
        assert f"\n## {path}\n" in text, f"{path} has no section in docs/cli.md; run `{REGENERATE}`"
        assert f"Usage: {path} " in text, f"the --help of {path} is not in docs/cli.md; run `{REGENERATE}`"


def test_every_command_has_help_text():
    for path, command in commands():
        assert (command.help or "").strip(), f"`{path}` has no help text (its docstring)"
        assert command.get_short_help_str().strip(), f"`{path}` has no short help"


def test_nested_groups_get_their_own_sections():
    @click.group()
    def top():
        """Top."""

    @top.group()
    def sub():
        """A nested group."""

    @sub.command()
    def leaf():
        """A leaf command."""

    text = render_reference(top, name="top")
    assert "\n## top sub\n" in text and "\n## top sub leaf\n" in text
    assert "Usage: top sub leaf [OPTIONS]" in text


def test_readme_is_short():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines; keep it at most {MAX_README_LINES} (details go to docs/)"


def settings_rows() -> dict[str, list[str]]:
    """The README's KB_* table, parsed: variable -> [flag, commands, default, help]."""
    rows = {}
    for line in README.read_text(encoding="utf-8").splitlines():
        if line.startswith("| `KB_"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            rows[cells[0].strip("`")] = cells[1:]
    return rows


def test_readme_settings_table_lists_every_setting():
    rows = settings_rows()
    assert set(rows) == {s.variable for s in SETTINGS}, f"the README's KB_* table differs from kb.config.SETTINGS; run `{UPDATE_README}`"
    for s in SETTINGS:
        flag, _commands, default, _help = rows[s.variable]
        assert flag == (f"`{s.flag}`" if s.flag else "—"), f"{s.variable}: flag {flag} in the README, {s.flag} in kb.config"
        assert default.strip("`") == s.default, f"{s.variable}: default {default} in the README, {s.default!r} in kb.config"


def test_readme_settings_table_is_generated():
    text = README.read_text(encoding="utf-8")
    start, end = text.find(TABLE_BEGIN), text.find(TABLE_END)
    assert 0 <= start < end, "the README lost its settings table markers"
    assert text[start : end + len(TABLE_END)] == render_settings_table(main), f"the README's settings table is stale; run `{UPDATE_README}`"


def test_every_cli_flag_in_the_settings_table_exists():
    flags = {opt for _, command in commands() for param in command.params for opt in getattr(param, "opts", [])}
    for s in SETTINGS:
        if s.flag:
            assert s.flag in flags, f"kb.config.SETTINGS names {s.flag} for {s.variable}, but no command takes it"


def github_anchor(heading: str) -> str:
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE_RE.sub("", path.read_text(encoding="utf-8"))
    found, seen = set(), {}
    for match in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.M):
        slug = github_anchor(match.group(1))
        n = seen.get(slug, 0)
        found.add(slug if n == 0 else f"{slug}-{n}")
        seen[slug] = n + 1
    return found


def relative_links(path: Path) -> list[str]:
    text = FENCE_RE.sub("", path.read_text(encoding="utf-8"))
    text = re.sub(r"`[^`\n]*`", "", text)  # links shown as code are examples, not links
    return [target for target in LINK_RE.findall(text) if not re.match(r"^[a-z][a-z0-9+.-]*:", target)]


@pytest.mark.parametrize("doc", LINKED_DOCS, ids=lambda p: p.name)
def test_relative_links_point_to_files_that_exist(doc):
    assert doc.exists(), f"{doc.relative_to(ROOT)} is missing"
    links = relative_links(doc)
    if doc == README:
        assert len(links) > 10, links
    for target in links:
        file_part, _, anchor = target.partition("#")
        linked = (doc.parent / file_part).resolve() if file_part else doc
        assert linked.exists(), f"{doc.relative_to(ROOT)} links to {target}, which does not exist"
        if anchor and linked.suffix == ".md":
            assert anchor in anchors(linked), f"{doc.relative_to(ROOT)} links to {target}: no heading with that anchor"


@pytest.mark.parametrize("doc", LINKED_DOCS[1:], ids=lambda p: p.name)
def test_code_paths_named_in_the_docs_exist(doc):
    text = doc.read_text(encoding="utf-8")
    for path in sorted(set(re.findall(r"\b((?:kb|benchmarks|tests|scripts)/[\w/]+\.(?:py|txt|jsonl|sh))\b", text))):
        assert (ROOT / path).exists(), f"{doc.relative_to(ROOT)} names {path}, which does not exist"


def test_readme_example_note_parses_as_described():
    from kb.notes.corpus import parse_note

    text = README.read_text(encoding="utf-8")
    block = re.search(r"^````markdown\n(.*?)^````", text, re.S | re.M).group(1)
    note = "\n".join(re.sub(r"\s+←.*$", "", line) for line in block.splitlines())
    result = parse_note(note, "my-notes.md")
    assert result.problems == []
    assert [(c.question, c.family) for c in result.cards] == [
        ("What does Adam add to momentum?", "Optimisers"),
        ("What is weight decay?", "Optimisers"),
        ("Why does batch norm speed up training?", "Optimisers"),
        ("Why warm up the learning rate", "Training tricks"),
        ("When is MAE better than MSE?", "Losses"),
        ("What is label smoothing?", "Losses"),
        ("What is focal loss?", "Losses"),
        ("What is the KL divergence?", "Losses"),
    ]
    assert "8 cards in 3 families" in text


def test_generated_tables_match_their_results_files():
    from benchmarks.tables import DOCS, TABLES, render

    pages = {page.name: page.read_text(encoding="utf-8") for page in DOCS.glob("*.md")}
    generated = [name for text in pages.values() for name in TABLES if f"<!-- table:{name} -->" in text]
    assert generated, "no docs page holds a generated table"
    stale = [name for name, text in pages.items() if render(text) != text]
    assert not stale, f"tables in {stale} differ from benchmarks/results/*.json: run python -m benchmarks.tables"


def test_a_generated_table_follows_its_results(tmp_path, monkeypatch):
    import json

    from benchmarks import tables

    (tmp_path / "chat_edge.json").write_text(json.dumps({"figures": {"toy/test/none": {
        "now": {"on_topic": {"answer_right": 0.5, "closest": 0.25}, "near_miss": {"answer": 0.1, "closest": 0.6}, "far": {"abstain": 1.0}},
        "today": {"on_topic": {"answer_right": 0.75}, "near_miss": {"answer": 0.3}}, "R@1": 0.8, "R@5": 0.9, "search_p50_ms": 4.0, "chat_p50_ms": 6.0}}}))
    monkeypatch.setattr(tables, "RESULTS", tmp_path)
    page = "x\n<!-- table:chat_edge -->\nold\n<!-- /table:chat_edge -->\ny\n"
    out = tables.render(page)
    assert "| toy | test | none | 0.50 / 0.75 | 0.25 | 0.10 / 0.30 | 0.60 | 1.00 | 0.80 / 0.90 | 4.0 / 6.0 |" in out
    assert "old" not in out and out.startswith("x\n") and out.endswith("y\n")


def test_every_generated_table_renders_without_its_results(tmp_path, monkeypatch):
    from benchmarks import tables

    monkeypatch.setattr(tables, "RESULTS", tmp_path)  # no results files at all: a header, no rows, no error
    for name, renderer in tables.TABLES.items():
        lines = renderer().splitlines()
        assert lines and all(line.startswith("|") or not line for line in lines), name


def test_a_missing_figure_renders_as_a_dash(tmp_path, monkeypatch):
    import json

    from benchmarks import tables

    (tmp_path / "evaluate_grading.json").write_text(json.dumps({"figures": {
        "toy/test/none": {"triples": 3, "pairwise": 0.5, "grade_ms_p50": 40.0},
        "toy/dev2/ml": {"triples": 4, "pairwise": 0.75, "other_card": "1/2"}}}))
    (tmp_path / "evaluate_review.json").write_text(json.dumps({"figures": {"toy/test/ml": {"first_sight": {"cards": 2, "pairwise": 0.6}}}}))
    monkeypatch.setattr(tables, "RESULTS", tmp_path)
    assert "| toy | test | 3 | 0.50 / – | – | – / – | – / – | – | 40 (–; –) |" in tables.grading_test()
    assert "| toy | dev2 | 4 | – / 0.75 | – | – / – | – / – | 1/2 | – (–; –) |" in tables.grading_dev()
    assert "toy | test" not in tables.grading_dev() and "dev2" not in tables.grading_test()
    assert "| toy | test | ml | 2 | 0.60 (–) | – | – | – | – | –, – | – | – | – | – |" in tables.grading_review()
