"""The one markdown parser configuration, and markdown -> plain text.

markdown-it-py with the dollarmath plugin, so `_` and `*` inside `$...$` / `$$...$$`
are never read as emphasis, and front matter is recognised rather than read as a heading.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from markdown_it import MarkdownIt
from markdown_it.rules_block import StateBlock
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.dollarmath.index import math_inline_dollar
from mdit_py_plugins.front_matter import front_matter_plugin

WIKI_LINK_RE = re.compile(r"\[\[([^\[\]|#]*)(?:#([^\[\]|]*))?(?:\|([^\[\]]*))?\]\]")
HTML_TAG_RE = re.compile(r"<[^>]{0,500}>")
# Obsidian image embeds (`![[plot.png]]`) and `%% comments %%` are not words of the answer.
OBSIDIAN_NOISE_RE = re.compile(r"!\[\[[^\[\]]*\.(?:png|jpe?g|gif|svg|webp|bmp|pdf)(?:\|[^\[\]]*)?\]\]|%%.*?%%", re.IGNORECASE | re.DOTALL)


# `$$a$$ $$b$$` (or `$$a$$ text`) on one line is inline math, not a block opened by the first `$$`.
CLOSED_THEN_MORE_RE = re.compile(r"\$\$(?:[^$\\]|\\.)+?\$\$\s*\S")


@functools.lru_cache(maxsize=1)
def parser() -> MarkdownIt:
    """The shared parser (`new_parser()`, built once): read it, do not add rules to it."""
    return new_parser()


def new_parser(*, math_fixes: bool = True) -> MarkdownIt:
    """A fresh parser with kb's settings: CommonMark with HTML, front matter, `$`/`$$` formulas
    (dollarmath), tables and strikethrough; add render rules or plugins to it freely.

    `math_fixes` adds two corrections to dollarmath: `$$a$$ $$b$$` on one line is inline math, and a
    formula at the very start of a line is found even when the line ends in a digit.
    """
    md = MarkdownIt("commonmark", {"html": True})
    md.use(front_matter_plugin)
    md.use(dollarmath_plugin, allow_space=True, allow_digits=False, double_inline=True)
    md.enable("table")
    md.enable("strikethrough")
    if math_fixes:
        _fix_dollarmath(md)
    return md


def _fix_dollarmath(md: MarkdownIt) -> None:
    block_rule = next(rule.fn for rule in md.block.ruler.__rules__ if rule.name == "math_block")

    def math_block(state: StateBlock, start_line: int, end_line: int, silent: bool) -> bool:
        line = state.src[state.bMarks[start_line] + state.tShift[start_line] : state.eMarks[start_line]]
        if CLOSED_THEN_MORE_RE.match(line):
            return False
        return block_rule(state, start_line, end_line, silent)

    md.block.ruler.at("math_block", math_block)
    # dollarmath checks "no digit before the opening $" with src[pos - 1], which at pos 0 is the
    # line's LAST character: "$b$ is 7" lost its formula. At pos 0 there is nothing before it.
    inline_rule = next(rule.fn for rule in md.inline.ruler.__rules__ if rule.name == "math_inline")
    at_start_rule = math_inline_dollar(allow_space=True, allow_digits=True, allow_double=True)

    def math_inline(state: StateInline, silent: bool) -> bool:
        if state.pos != 0:
            return inline_rule(state, silent)
        tokens = len(state.tokens)
        if not at_start_rule(state, silent):
            return False
        if state.pos < len(state.src) and state.src[state.pos].isdigit():  # "$5 and $10": a price after all
            state.pos, state.tokens[tokens:] = 0, []
            return False
        return True

    md.inline.ruler.at("math_inline", math_inline)


def wiki_link_text(match: re.Match[str]) -> str:
    """What a reader sees for [[note#heading|alias]]: the alias, else the heading, else the note."""
    note, heading, alias = match.group(1), match.group(2), match.group(3)
    text = alias or heading or note or ""
    return re.sub(r"^Q:\s*", "", text.strip())


def _inline_text(children: Sequence[Token] | None, strip_tags: bool = False) -> str:
    """Plain text of inline tokens; with `strip_tags`, tag-like text outside code and math goes too
    (math keeps its `<` and `>`: `\\sum_{k' < k} ... \\sum_{k' > k}` is a formula, not a tag)."""
    parts = []
    for child in children or []:
        if child.type == "text":
            parts.append(HTML_TAG_RE.sub(" ", child.content) if strip_tags else child.content)
        elif child.type in ("code_inline", "math_inline", "math_inline_double"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(_inline_text(child.children, strip_tags))
        elif child.type == "html_inline":
            continue
    return "".join(parts)


STRAY_DOLLAR_RE = re.compile(r"(?<!\\)\$(?!\d)")  # `$5` is a price, `\$` an escaped dollar


def to_text(markdown: str) -> str:
    """Plain text for search and grading: markup dropped, words, code and formula sources kept."""
    return text_and_stray_dollars(markdown)[0]


def text_and_stray_dollars(markdown: str) -> tuple[str, list[int]]:
    """`to_text`, plus the 0-based lines of paragraphs where a `$` was left unpaired by the math parser.

    One parse serves both, since notes are parsed card by card.
    """
    markdown = OBSIDIAN_NOISE_RE.sub(lambda m: "\n" * m.group(0).count("\n"), markdown)  # keep line offsets
    markdown = WIKI_LINK_RE.sub(wiki_link_text, markdown)
    out: list[str] = []
    stray: list[int] = []
    for token in parser().parse(markdown):
        if token.type == "inline":
            out.append(_inline_text(token.children))
            if "$" in token.content and any(c.type == "text" and STRAY_DOLLAR_RE.search(c.content) for c in token.children or []):
                stray.append(token.map[0] if token.map else 0)
        elif token.type in ("fence", "code_block", "math_block", "math_block_label"):
            out.append(token.content.strip())
        elif token.type == "html_block":
            stripped = HTML_TAG_RE.sub(" ", token.content).replace("&nbsp;", " ").strip()
            if stripped:
                out.append(stripped)
    text = "\n".join(part for part in out if part.strip())
    return re.sub(r"[ \t]+", " ", text).strip(), stray


@functools.lru_cache(maxsize=8192)  # headings and family names repeat across a note's cards
def inline_to_text(markdown: str) -> str:
    """Plain text of a single line of inline markdown (a heading or a bold question)."""
    markdown = WIKI_LINK_RE.sub(wiki_link_text, markdown)
    tokens = parser().parseInline(markdown)
    text = _inline_text(tokens[0].children, strip_tags=True) if tokens else HTML_TAG_RE.sub(" ", markdown)
    return re.sub(r"\s+", " ", text).strip()
