"""Text -> safe markdown/HTML for the UI: currency dollars, escaping, highlighted snippets, links.

Search results are HTML inside a gr.Markdown, so KaTeX typesets their formulas too: snippets keep each
formula whole with its `$` delimiters (`snippet_html`), and every other `$` becomes `DOLLAR_HTML`.

Gradio typesets LaTeX with KaTeX auto-render over the rendered DOM, using `LATEX_DELIMITERS`.
A lone `$` in prose ("costs $5 and $10") would be read as an inline formula, so every `$` that
the note's own parser (markdown-it + dollarmath, kb.notes.markdown) does not read as math is replaced
by `DOLLAR_HTML`: an entity inside its own element, which neither Gradio's delimiter regex nor
KaTeX (which only joins adjacent text nodes) can pair with another `$`.
"""
from __future__ import annotations

import functools
import html
import re
from pathlib import Path
from typing import TYPE_CHECKING

from kb import WIKI_LINK_RE, markdown_parser as parser, wiki_link_text
from kb.ui.images import rewrite_images
from kb.ui.nav import card_url
from kb.vocab import HIGHLIGHT_SKIP

if TYPE_CHECKING:
    from markdown_it.token import Token

# `$$` must come first: Gradio extracts the delimiters in list order.
LATEX_DELIMITERS: list[dict[str, str | bool]] = [
    {"left": "$$", "right": "$$", "display": True},
    {"left": "$", "right": "$", "display": False},
]
DOLLAR_HTML = '<span class="kb-dollar">&#36;</span>'
_MATH_BLOCK_TYPES = {"math_block", "math_block_label", "fence", "code_block"}
_WORD_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-']*")


def escape_text(text: str) -> str:
    return html.escape(text or "", quote=True)


def _protect_line_dollars(line: str, spans: list[str]) -> str:
    """Replace `$` outside the given math/code source spans (searched in order) in one line chunk."""
    out, cursor = [], 0
    for span in spans:
        found = line.find(span, cursor)
        if found < 0:
            continue
        out.append(_swap_dollars(line[cursor:found]))
        out.append(span.replace(_PRICE_MARK, "$"))  # formulas and code keep their dollars
        cursor = found + len(span)
    out.append(_swap_dollars(line[cursor:]))
    return "".join(out)


def _swap_dollars(text: str) -> str:
    return text.replace("\\$", "$").replace("$", DOLLAR_HTML)


# A price: `$` + a number (optionally 5k / 2.5M / 10bn), then prose or punctuation, never an operator
# ("$1 + x$" stays a formula). The number must not be followed by `$` ("$5$" is a formula).
_PRICE_RE = re.compile(r"(?<![\\$\w])\$(?=\d[\d,]*(?:\.\d+)?(?:[kKmMbB]n?)?(?:[,;:!?)\]]|\.(?:\s|$)|\s+[A-Za-z(]|\s*$))", re.MULTILINE)
_PRICE_MARK = "\ue000"  # private-use character: a price dollar, until the end of protect_currency


def _inline_spans(token: Token) -> list[str]:
    """Source text of the math and code spans of an inline token, in order."""
    spans = []
    for child in token.children or []:
        if child.type == "math_inline":
            spans.append(f"${child.content}$")
        elif child.type == "math_inline_double":
            spans.append(f"$${child.content}$$")
        elif child.type == "code_inline":
            spans.append(f"{child.markup}{child.content}{child.markup}")
    return spans


def protect_currency(markdown: str) -> str:
    """Markdown in which only real formulas keep their `$` delimiters (see module docstring)."""
    if "$" not in (markdown or ""):
        return markdown or ""
    # Prices first ("$5 and $10, while..."): dollarmath would read "$10, while ... $" as a formula.
    markdown = _PRICE_RE.sub(_PRICE_MARK, markdown)
    lines = markdown.split("\n")
    keep = [False] * len(lines)  # lines inside math or code blocks stay byte-exact
    inline_tokens: list[tuple[int, int, list[str]]] = []
    for token in parser().parse(markdown):
        if token.map is None:
            continue
        start, end = token.map
        if token.type in _MATH_BLOCK_TYPES:
            for i in range(start, min(end, len(lines))):
                keep[i] = True
                lines[i] = lines[i].replace(_PRICE_MARK, "$")
        elif token.type == "inline":
            inline_tokens.append((start, end, _inline_spans(token)))
    done = [False] * len(lines)
    for start, end, spans in inline_tokens:
        if any(keep[start:end]) or any(done[start:end]):
            continue
        chunk = "\n".join(lines[start:end])
        protected = _protect_line_dollars(chunk, spans).split("\n")
        if len(protected) == end - start:
            lines[start:end] = protected
        for i in range(start, end):
            done[i] = True
    return "\n".join(lines).replace(_PRICE_MARK, DOLLAR_HTML)


def formula_pieces(markdown: str) -> list[tuple[str, str]]:
    """Markdown source cut into ("text", source), ("math", inline formula) and ("display", block formula)
    pieces, read by the note's own parser (prices stay text; code keeps its dollars). Joining the text
    pieces with each formula written back between `$`/`$$` gives the source again, except that a display
    block takes its whole lines (with any list or quote prefix). For surfaces that show formulas their own
    way, such as the terminal (kb/cli/terminal.py).
    """
    if "$" not in (markdown or ""):
        return [("text", markdown or "")]
    marked = _PRICE_RE.sub(_PRICE_MARK, markdown)
    lines = marked.split("\n")
    blocks: dict[int, tuple[int, str]] = {}
    inline: dict[int, tuple[int, list[tuple[str, str, str]]]] = {}  # first line -> (end line, spans); table cells share their row's lines
    for token in parser().parse(marked):
        if token.map is None:
            continue
        start, end = token.map
        if token.type in ("math_block", "math_block_label"):
            blocks[start] = (end, token.content)
        elif token.type == "inline":
            entry = inline.setdefault(start, (end, []))
            entry[1].extend([(child.type, child.content, child.markup) for child in token.children or []
                         if child.type in ("math_inline", "math_inline_double", "code_inline")])
    pieces: list[tuple[str, str]] = []

    def text(value: str) -> None:
        value = value.replace(_PRICE_MARK, "$")
        if pieces and pieces[-1][0] == "text":
            pieces[-1] = ("text", pieces[-1][1] + value)
        elif value:
            pieces.append(("text", value))

    i = 0
    while i < len(lines):
        if i:
            text("\n")
        if i in blocks:
            end, content = blocks[i]
            pieces.append(("display", content.replace(_PRICE_MARK, "$").strip()))
            i = max(end, i + 1)
            continue
        if i not in inline:
            text(lines[i])
            i += 1
            continue
        end, spans = inline[i]
        end = max(end, i + 1)
        chunk, cursor = "\n".join(lines[i:end]), 0
        for kind, content, markup in spans:
            source = f"{markup}{content}{markup}" if kind == "code_inline" else (f"$${content}$$" if kind == "math_inline_double" else f"${content}$")
            found = chunk.find(source, cursor)
            if found < 0:
                continue
            text(chunk[cursor:found])
            if kind == "code_inline":
                text(source)
            else:
                pieces.append(("math", content.replace(_PRICE_MARK, "$")))
            cursor = found + len(source)
        text(chunk[cursor:])
        i = end
    return pieces


def keep_indentation(markdown: str) -> str:
    """Markdown that survives gr.Markdown's `inspect.cleandoc`, which strips the indentation the lines
    after the first share: "- a\n    - b" (a nested list) would come out as two items side by side.
    A last line with no indentation (an HTML comment, which renders as nothing) leaves none shared."""
    lines = markdown.split("\n")
    if len(lines) < 2 or any(line.strip() and not line[0].isspace() for line in lines[1:]):
        return markdown
    return markdown + "\n\n<!-- -->"


def note_markdown(markdown: str, note_dir: Path | None = None, root: Path | None = None) -> str:
    """A note's markdown made ready for gr.Markdown/gr.Chatbot: wiki-links as text, currency safe, remote
    images as links (kb/ui/images.py; local ones are inlined when `note_dir` and the corpus `root` are given).

    Raw HTML in the note is left to Gradio's sanitizer (sanitize_html=True, tested in the browser).
    """
    text = WIKI_LINK_RE.sub(lambda m: f"*{wiki_link_text(m)}*", markdown or "")
    return keep_indentation(protect_currency(rewrite_images(text, note_dir=note_dir, root=root)))


def user_markdown(text: str) -> str:
    """Text a user typed, shown as markdown: raw HTML escaped, currency safe."""
    return protect_currency(html.escape(text or "", quote=False))


def query_terms(query: str) -> list[str]:
    """Words of a query worth highlighting (no stop words, at least 2 characters)."""
    seen, terms = set(), []
    for word in _WORD_RE.findall(query or ""):
        low = word.lower()
        if len(low) >= 2 and low not in HIGHLIGHT_SKIP and low not in seen:
            seen.add(low)
            terms.append(low)
    return terms


def _term_pattern(terms: list[str]) -> re.Pattern[str] | None:
    stems = sorted({t.rstrip("s") if len(t) > 4 else t for t in terms}, key=len, reverse=True)
    if not stems:
        return None
    # Prefix match from a word start: "clip" highlights "clipping", "losses" highlights "loss".
    return re.compile(r"\b(" + "|".join(re.escape(s) for s in stems) + r")[\w\-]*", re.IGNORECASE)


def highlight(text: str, terms: list[str]) -> str:
    """HTML: `text` escaped, with words matching `terms` wrapped in <mark>."""
    pattern = _term_pattern(terms)
    if pattern is None:
        return escape_text(text)
    out, cursor = [], 0
    for match in pattern.finditer(text or ""):
        out.append(escape_text(text[cursor : match.start()]))
        out.append(f"<mark>{escape_text(match.group(0))}</mark>")
        cursor = match.end()
    out.append(escape_text((text or "")[cursor:]))
    return "".join(out)


def snippet(text: str, terms: list[str], width: int = 220) -> str:
    """A window of plain text around the first matched term (or the start), as plain text."""
    text = " ".join((text or "").split())
    if len(text) <= width:
        return text
    pattern = _term_pattern(terms)
    match = pattern.search(text) if pattern else None
    start = 0 if match is None else max(0, match.start() - width // 3)
    if start and match is not None:  # a start past 0 comes from a match
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < match.start() else start
    end = min(len(text), start + width)
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > start else end
    return ("… " if start else "") + text[start:end] + (" …" if end < len(text) else "")


def card_link_html(card_id: str, label: str, css_class: str = "kb-card-link", title: str = "", label_html: str | None = None) -> str:
    """An anchor that opens a card in place (intercepted by NAV_JS) and is a real deep link.

    `label_html` replaces the escaped `label` with markup the caller made safe (e.g. `math_html`).
    """
    hover = f' title="{escape_text(title)}"' if title else ""
    inner = label_html if label_html is not None else escape_text(label)
    return f'<a class="{css_class}" href="{escape_text(card_url(card_id))}" data-kb-card="{escape_text(card_id)}"{hover}>{inner}</a>'


# ---- formulas in snippets and labels ---------------------------------------------------------------------
# Search shows a window of an answer. Formulas keep their `$` delimiters so KaTeX typesets them (the results
# are a gr.Markdown with LATEX_DELIMITERS); the window is cut between pieces, never inside a formula.

@functools.lru_cache(maxsize=4096)  # the same answers come back search after search
def _text_pieces(markdown: str) -> tuple[tuple[str, str], ...]:
    """The readable text of some markdown as ("text", words) and ("math", formula source) pieces, in order.

    Text keeps one space where the source had white space, so pieces join with "" as they were written;
    two formulas in a row get a space between them (`$a$$b$` would read as one `$$` formula).
    """
    marked = _PRICE_RE.sub(_PRICE_MARK, WIKI_LINK_RE.sub(wiki_link_text, markdown or ""))
    pieces: list[tuple[str, str]] = []

    def add(kind: str, value: str) -> None:
        value = re.sub(r"\s+", " ", value)
        if kind == "text":
            value = value.replace(_PRICE_MARK, "$")
            if pieces and pieces[-1][0] == "text":
                pieces[-1] = ("text", re.sub(r"\s+", " ", pieces[-1][1] + value))
                return
        else:
            value = value.strip()
            if not value:
                return
            if pieces and pieces[-1][0] == "math":
                pieces.append(("text", " "))
        if value:
            pieces.append((kind, value))

    for token in parser().parse(marked):
        if token.type == "inline":
            add("text", " ")
            for child in token.children or []:
                if child.type in ("math_inline", "math_inline_double"):
                    add("math", child.content)
                elif child.type in ("text", "code_inline"):
                    add("text", child.content)
                elif child.type in ("softbreak", "hardbreak"):
                    add("text", " ")
                elif child.type == "image":
                    add("text", " ".join(c.content for c in child.children or []))
        elif token.type in ("math_block", "math_block_label"):
            add("text", " ")
            add("math", token.content)
        elif token.type in ("fence", "code_block"):
            add("text", " " + token.content)
        elif token.type == "html_block":
            add("text", " " + html.unescape(re.sub(r"<[^>]{0,500}>", " ", token.content)))
    return tuple(pieces)


_LATEX_COMMAND_RE = re.compile(r"\\[A-Za-z]+")


def _formula_matches(value: str, terms: list[str]) -> re.Match[str] | None:
    """A term among a formula's own words (`\\text{PPO}` has PPO; `\\text` itself is not the word "text")."""
    pattern = _term_pattern(terms)
    return pattern.search(_LATEX_COMMAND_RE.sub(" ", value)) if pattern else None


def _piece_html(kind: str, value: str, terms: list[str]) -> str:
    if kind == "math":  # the browser turns the entities back into the formula's characters
        formula = f"${escape_text(value)}$"
        return f"<mark>{formula}</mark>" if _formula_matches(value, terms) else formula  # a formula is marked whole
    return highlight(value, terms).replace("$", DOLLAR_HTML)  # a price, never a delimiter


def math_html(markdown: str, terms: list[str] | None = None) -> str:
    """One line of markdown (a question) as safe HTML whose formulas KaTeX can typeset, words highlighted."""
    return "".join(_piece_html(kind, value, terms or []) for kind, value in _text_pieces(markdown)).strip()


def _first_match(spans: list[tuple[int, int, str, str]], terms: list[str]) -> int | None:
    pattern = _term_pattern(terms)
    if pattern is None:
        return None
    for start, _, kind, value in spans:
        if kind == "text":
            match = pattern.search(value)
            if match:
                return start + match.start()
        elif _formula_matches(value, terms):
            return start
    return None


def snippet_html(markdown: str, terms: list[str], width: int = 220) -> str:
    """A window of an answer around the first matched term, as safe HTML: words highlighted, formulas whole.

    The window is measured in characters of source. A formula it would cut is kept whole when it is
    short (the window grows a little) and dropped whole when it is long: never half a formula.
    """
    spans, at = [], 0  # (start, end, kind, value) along the joined text
    for kind, value in _text_pieces(markdown):
        spans.append((at, at + len(value), kind, value))
        at += len(value)
    start, end = 0, at
    if at > width:
        hit = _first_match(spans, terms)
        start = 0 if hit is None else max(0, hit - width // 3)
        end = min(at, start + width)
    out: list[str] = []
    cut_start = cut_end = False
    for s, e, kind, value in spans:
        if e <= start or s >= end:
            cut_start |= e <= start and bool(value.strip())
            cut_end |= s >= end and bool(value.strip())
            continue
        if kind == "math":
            if (s < start or e > end) and e - s > width // 3:
                cut_start |= s < start
                cut_end |= e > end
                continue  # a long formula the window would cut: dropped whole
            out.append(_piece_html(kind, value, terms))
            continue
        lo, hi = max(s, start) - s, min(e, end) - s
        if lo > 0:  # begin at a word
            space = value.find(" ", lo)
            lo = space + 1 if 0 <= space < hi else lo
            cut_start = True
        if hi < len(value):  # end at a word
            space = value.rfind(" ", lo, hi)
            hi = space if space > lo else hi
            cut_end = True
        out.append(_piece_html(kind, value[lo:hi], terms))
    body = re.sub(r"\s+", " ", "".join(out)).strip()
    return ("… " if cut_start else "") + body + (" …" if cut_end else "")
