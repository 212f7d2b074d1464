"""Cards rendered for a terminal: bold question, dim source line, answer text with formulas as unicode.

A terminal cannot typeset LaTeX, so formulas are read by pylatexenc (LatexNodes2Text) into unicode text:
`$\\|\\theta\\|_2^2$` prints as `‖θ‖₂²`. Two things are added to its defaults: `\\|` as `‖`, and `_`/`^`
read with their argument, written as unicode sub/superscripts when every character has one (`x_{t-1}` ->
`xₜ₋₁`) and as `_(...)`/`^(...)` otherwise. Display formulas get lines of their own, indented. Which
`$` starts a formula is decided by the note's own parser (kb.ui.render.formula_pieces), so prices and
code stay as written. JSON output keeps the LaTeX source.
"""
from __future__ import annotations

import functools
import re
import shutil
import textwrap
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from kb import WIKI_LINK_RE, Card, ChatReply, wiki_link_text
from kb.ui.render import formula_pieces

if TYPE_CHECKING:
    from kb import Citation

CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x1b]")
BOLD_RE = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
TOGGLE = "\x02"  # marks where bold starts or ends; control characters are already gone from the text


def safe(text: str) -> str:
    """Drop control and escape characters so a note cannot drive the terminal."""
    return CONTROL_RE.sub("", text)


_SUBSCRIPTS = dict(zip("0123456789+-=()aehijklmnoprstuvxβγρφχ", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓᵦᵧᵨᵩᵪ", strict=True))
_SUPERSCRIPTS = dict(zip("0123456789+-=()abcdefghijklmnoprstuvwxyzABDEGHIJKLMNOPRTUVWβγδθιφχ",
                         "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ᵃᵇᶜᵈᵉᶠᵍʰⁱʲᵏˡᵐⁿᵒᵖʳˢᵗᵘᵛʷˣʸᶻᴬᴮᴰᴱᴳᴴᴵᴶᴷᴸᴹᴺᴼᴾᴿᵀᵁⱽᵂᵝᵞᵟᶿᶥᵠᵡ", strict=True), **{"⊤": "ᵀ", "*": "*", "′": "′"})
_FUNCTIONS = ("log", "ln", "exp", "max", "min", "sin", "cos", "tan", "tanh", "arg", "sup", "inf", "lim", "det", "Pr")
# `\log p` needs the space that `\log(x)`, `\max_θ` and `\log^2` do not.
_FUNCTION_SPACE_RE = re.compile(r"\b(" + "|".join(_FUNCTIONS) + r") (?=[(\[_^" + "".join(_SUBSCRIPTS.values()) + "".join(_SUPERSCRIPTS.values()) + "])")


def _script(table: dict[str, str], mark: str) -> Callable[[Any, Any], str]:
    """pylatexenc text for `_`/`^` and their argument: unicode when it has one, else `_x` or `_(x+y)`."""
    def text(node: Any, l2tobj: Any) -> str:  # a pylatexenc node and its LatexNodes2Text (pylatexenc ships no types)
        args = node.nodeargd.argnlist if node.nodeargd else []
        inner = "".join(l2tobj.nodelist_to_text([a]) for a in args if a is not None).strip()
        if inner.startswith("{") and inner.endswith("}"):
            inner = inner[1:-1]
        if inner and all(c in table for c in inner):
            return "".join(table[c] for c in inner)
        return mark + (inner if len(inner) <= 1 or inner.isalnum() else f"({inner})")
    return text


@functools.lru_cache(maxsize=1)
def _latex_reader() -> tuple[Any, Any]:
    """(LatexNodes2Text, the latexwalker context it parses with), built once."""
    import logging

    from pylatexenc import latex2text, latexwalker, macrospec

    logging.getLogger("pylatexenc").setLevel(logging.ERROR)  # its warnings about odd input would go to stderr
    scripts = [macrospec.SpecialsSpec(c, args_parser=macrospec.MacroStandardArgsParser("{")) for c in "_^"]
    walker_db = latexwalker.get_default_latex_context_db()
    fracs = ("tfrac", "dfrac", "cfrac")
    walker_db.add_context_category("kb-scripts", specials=scripts, macros=[macrospec.std_macro(name, "{{") for name in fracs], prepend=True)
    text_db = latex2text.get_default_latex_context_db()
    text_db.add_context_category(
        "kb-text", prepend=True,
        macros=[latex2text.MacroTextSpec(name, "‖") for name in ("|", "Vert", "lVert", "rVert")]
        + [latex2text.MacroTextSpec(name, name + " ") for name in _FUNCTIONS]
        + [latex2text.MacroTextSpec(name, "%(1)s/%(2)s") for name in fracs],
        specials=[latex2text.SpecialsTextSpec("_", _script(_SUBSCRIPTS, "_")), latex2text.SpecialsTextSpec("^", _script(_SUPERSCRIPTS, "^"))],
    )
    return latex2text.LatexNodes2Text(latex_context=text_db, math_mode="text", strict_latex_spaces="based-on-source"), walker_db


@functools.lru_cache(maxsize=4096)
def latex_text(formula: str) -> str:
    """One formula's LaTeX source as readable unicode (`\\|\\theta\\|_2^2` -> `‖θ‖₂²`); the source if unreadable."""
    from pylatexenc import latexwalker

    converter, walker_db = _latex_reader()
    try:
        nodes = latexwalker.LatexWalker(formula, latex_context=walker_db, tolerant_parsing=True).get_latex_nodes()[0]
        text = converter.nodelist_to_text(nodes)
    except Exception:  # noqa: BLE001 - pylatexenc raises assorted errors on odd input; show what was written
        return formula
    if "%s" in text and "%s" not in formula:  # a macro missing its arguments (`\frac{`)
        return formula
    text = "\n".join(re.sub(r"[ \t]{2,}", " ", line).strip() for line in text.strip().split("\n"))
    return _FUNCTION_SPACE_RE.sub(r"\1", text) or formula


def formulas_as_text(markdown: str) -> str:
    """Markdown with every formula replaced by its unicode text; display formulas on indented lines of their own."""
    out = []
    for kind, value in formula_pieces(markdown):
        if kind == "text":
            out.append(value)
        elif kind == "math":
            out.append(latex_text(value).replace("\n", " "))
        else:
            out.append("\n".join("    " + line for line in latex_text(value).split("\n") if line.strip()))
    return "".join(out)


def _styled(line: str, bold: bool) -> tuple[str, bool]:
    """Turn TOGGLE marks into bold styling; returns the line and whether bold is still on at its end."""
    parts = line.split(TOGGLE)
    out = []
    for i, part in enumerate(parts):
        if i:
            bold = not bold
        out.append(click.style(part, bold=True) if bold and part else part)
    return "".join(out), bold


def render_card(card: Card, width: int | None = None) -> str:
    """The card as terminal text. Code fences and $$ blocks are shown as written, never re-wrapped."""
    width = width or min(100, shutil.get_terminal_size((100, 20)).columns)
    lines = [
        click.style(formulas_as_text(safe(card.question)), bold=True),
        click.style(f"{safe(card.family)} · {safe(card.note)}:{card.line_start} · id {card.id}", dim=True),
        "",
    ]
    body = formulas_as_text(safe(WIKI_LINK_RE.sub(wiki_link_text, card.answer_md)))
    block_end: str | None = None  # the closing marker of the fence or math block we are in
    for line in body.split("\n"):
        stripped = line.strip()
        if block_end is not None:
            lines.append(line)
            if stripped.startswith(block_end) or (block_end == "$$" and stripped.endswith("$$")):
                block_end = None
            continue
        fence = re.match(r"(`{3,}|~{3,})", stripped)
        if fence:
            block_end = fence.group(1)
            lines.append(line)
            continue
        if stripped.startswith("$$") and not (len(stripped) > 2 and stripped.endswith("$$")):
            block_end = "$$"
            lines.append(line)
            continue
        if not stripped:
            lines.append("")
            continue
        if stripped.startswith("#"):
            lines.append(click.style(stripped.lstrip("#").strip(), bold=True))
            continue
        marked = BOLD_RE.sub(lambda m: f"{TOGGLE}{m.group(1)}{TOGGLE}", line)
        if line.startswith("    ") or stripped.startswith(("$$", "|")) or len(marked) <= width:
            wrapped = [marked]
        else:
            leading = re.match(r"\s*(?:[-*+]\s+|\d+[.)]\s+|>\s*)?", line)
            assert leading is not None  # every part of the pattern is optional: it matches every line
            indent = leading.group(0)
            wrapped = textwrap.wrap(marked, width=width, subsequent_indent=" " * len(indent), break_long_words=False, break_on_hyphens=False)
        bold = False
        for piece in wrapped:
            styled, bold = _styled(piece, bold)
            lines.append(styled)
    return "\n".join(lines)


def render_reply(reply: ChatReply, formulas: str = "text") -> str:
    """A chat reply as terminal markdown: the card's words, where they come from, and what to ask next.

    `formulas="text"` shows formulas as unicode (kb ask in a terminal); "latex" keeps their source (--json).
    """
    shown = formulas_as_text if formulas == "text" else (lambda text: text)
    if reply.error:
        return f"{safe(reply.error)}."
    if reply.abstained:
        lines = [f"Your notes don't cover “{safe(reply.message[:160])}”, so I won't guess."]
        if reply.unfamiliar:
            lines.append(f"They never mention {safe(_listed(reply.unfamiliar))}.")
        if reply.nearest:
            lines.append("Nearest: " + "; ".join(f"{shown(safe(c.question))} ({safe(c.family)})" for c in reply.nearest))
        return "\n\n".join(lines)
    card = reply.card
    assert card is not None  # an answer or the closest card always has its card (only abstaining has none)
    if reply.outcome == "closest":
        lines = [f"Your notes may not cover this. The closest card: **{shown(safe(card.question))}** · *{safe(card.family)}* [{card.id}]"]
        if reply.missing:
            lines.append(f"It never mentions {safe(_listed(reply.missing, 'or'))}.")
        lines.append(shown(safe(WIKI_LINK_RE.sub(wiki_link_text, reply.excerpt))))
        if len(reply.nearest) > 1:
            lines.append("Also near: " + "; ".join(f"{shown(safe(c.question))} ({safe(c.family)}) [{c.id}]" for c in reply.nearest[1:]))
        return "\n\n".join(lines)
    parts = [f"**{shown(safe(card.question))}** · *{safe(card.family)}*", shown(safe(WIKI_LINK_RE.sub(wiki_link_text, reply.excerpt)))]
    if reply.cut:
        parts.append(f"(the most relevant part; `kb show {card.id}` prints the whole answer)")
    parts.append("Sources: " + " · ".join(f"{shown(safe(c.question))} ({safe(c.family)}) [{c.id}]" for c in reply.citations))
    return "\n\n".join(parts)


def _listed(names: list[str], conjunction: str = "or") -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" {conjunction} " + names[-1]


def reply_payload(reply: ChatReply) -> dict[str, Any]:
    """The JSON `kb ask` prints: the reply as the terminal shows it, plus its data."""
    def cited(c: Citation) -> dict[str, Any]:
        return {"id": c.id, "question": c.question, "family": c.family, "score": round(float(c.score), 4)}

    return {
        "outcome": reply.outcome,
        "answer_md": render_reply(reply, formulas="latex"),
        "abstained": reply.abstained,
        "card": reply.card.id if reply.card is not None else None,
        "missing": list(reply.missing),
        "citations": [cited(c) for c in reply.citations],
        "follow_ups": list(reply.follow_ups),
        "nearest": [cited(c) for c in reply.nearest],
    }
