"""Formulas in the terminal: `kb show`, `kb ask` and `kb interview` print readable unicode (pylatexenc),
not LaTeX source; prices and code keep their dollars; JSON keeps the source."""
from __future__ import annotations

import json

import click
import pytest

from kb.cli.terminal import formulas_as_text, latex_text, render_card
from tests.support import ROOT, kb_env, kb_subprocess

L1_VS_L2 = "l1-vs-l2-regularization"
PPO = "how-does-ppo-work-why-the-clip"
LATEX_LEFT = ("\\theta", "\\|", "\\mathcal", "\\epsilon", "\\frac", "\\left", "_{", "^{")


@pytest.mark.parametrize(
    "formula, expected",
    [
        ("\\|\\theta\\|_2^2", "‖θ‖₂²"),
        ("x_{t-1}", "xₜ₋₁"),
        ("\\mathcal{L} = \\sum_i x_i", "ℒ = ∑ᵢ xᵢ"),
        ("\\mathbb{E}\\left[\\|\\epsilon - \\epsilon_\\theta(x_t, t)\\|^2\\right]", "𝔼[‖ϵ - ϵ_θ(xₜ, t)‖²]"),
        ("D_{KL}(p\\|q)", "D_KL(p‖q)"),
        ("e^{-x^2}", "e^(-x²)"),
        ("\\log p(x)", "log p(x)"),
        ("\\frac{1}{2}", "1/2"),
        ("W^T", "Wᵀ"),
    ],
)
def test_formulas_read_as_unicode(formula, expected):
    assert latex_text(formula) == expected


def test_unreadable_latex_is_shown_as_written():
    assert latex_text("\\frac{") == "\\frac{"


def test_only_formulas_change():
    text = "A GPU hour costs $5 and $10, while the loss is $\\|\\theta\\|_2^2$ per sample; `echo $HOME` stays."
    assert formulas_as_text(text) == "A GPU hour costs $5 and $10, while the loss is ‖θ‖₂² per sample; `echo $HOME` stays."
    block = formulas_as_text("Loss:\n\n$$\n\\mathcal{L} = \\sum_i x_i\n$$\n\nafter")
    assert block == "Loss:\n\n    ℒ = ∑ᵢ xᵢ\n\nafter"  # a display formula on its own indented line
    assert formulas_as_text("```\n$x_1$\n```") == "```\n$x_1$\n```"


def test_render_card_of_the_shipped_notes_leaves_no_latex(shipped_kb):
    for card in shipped_kb.cards():
        text = click.unstyle(render_card(card, width=100))
        left = [mark for mark in LATEX_LEFT if mark in text]
        assert not left and "$" not in text, f"{card.id} still shows LaTeX {left}:\n{text}"


@pytest.fixture(scope="module")
def shipped_env(shipped_kb, tmp_path_factory):
    data = tmp_path_factory.mktemp("latex-cli")
    return kb_env(KB_CORPUS=str(shipped_kb.config.corpus), KB_INDEX=str(shipped_kb.config.index), KB_DATA=str(data))


def test_kb_show_prints_unicode(shipped_env):
    done = kb_subprocess("show", L1_VS_L2, env=shipped_env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "‖θ‖₂²" in done.stdout and "‖θ‖₁" in done.stdout, done.stdout
    assert "\\theta" not in done.stdout and "$" not in done.stdout, done.stdout
    as_json = json.loads(kb_subprocess("show", L1_VS_L2, "--json", env=shipped_env, cwd=ROOT).stdout)
    assert "$\\|\\theta\\|_2^2$" in as_json["answer_md"]  # data keeps the source


def test_kb_ask_prints_unicode_and_its_json_keeps_latex(shipped_env):
    done = kb_subprocess("ask", "why does PPO clip the probability ratio?", env=shipped_env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "r(θ)" in done.stdout and "ϵ" in done.stdout, done.stdout
    assert "\\theta" not in done.stdout and "$" not in done.stdout, done.stdout
    as_json = json.loads(kb_subprocess("ask", "why does PPO clip the probability ratio?", "--json", env=shipped_env, cwd=ROOT).stdout)
    assert "\\theta" in as_json["answer_md"]


def test_kb_interview_prints_unicode(shipped_env):
    script = "It predicts the noise that was added, with a mean squared error.\n\nend\n"
    done = kb_subprocess("interview", "--family", "Diffusion / Score Matching", "--length", "1", "--mode", "random", "--seed", "1",
                         "--profile", "latex", env=shipped_env, cwd=ROOT, input=script)
    assert done.returncode == 0, done.stderr
    assert "Model answer" in done.stdout or "model answer" in done.stdout.lower(), done.stdout
    assert "𝔼" in done.stdout and "θ" in done.stdout, done.stdout
    left = [mark for mark in LATEX_LEFT if mark in done.stdout]
    assert not left, f"kb interview still shows LaTeX {left}:\n{done.stdout}"
