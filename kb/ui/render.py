"""Text -> safe markdown/HTML for the UI: currency dollars, escaping, highlighted snippets, links.

Gradio typesets LaTeX with KaTeX auto-render over the rendered DOM, using `LATEX_DELIMITERS`.
A lone `$` in prose ("costs $5 and $10") would be read as an inline formula, so every `$` that
the note's own parser (markdown-it + dollarmath, kb.markdown) does not read as math is replaced
by `DOLLAR_HTML`: an entity inside its own element, which neither Gradio's delimiter regex nor
KaTeX (which only joins adjacent text nodes) can pair with another `$`.
"""
from __future__ import annotations

import html
import re

from kb import WIKI_LINK_RE, wiki_link_text
from kb import markdown_parser as parser
from kb.vocab import HIGHLIGHT_SKIP
from kb.ui.nav import card_url

# `$$` must come first: Gradio extracts the delimiters in list order.
LATEX_DELIMITERS = [
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


def _inline_spans(token) -> list[str]:
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


def note_markdown(markdown: str) -> str:
    """A note's markdown made ready for gr.Markdown/gr.Chatbot: wiki-links as text, currency safe.

    Raw HTML in the note is left to Gradio's sanitizer (sanitize_html=True, tested in the browser).
    """
    text = WIKI_LINK_RE.sub(lambda m: f"*{wiki_link_text(m)}*", markdown or "")
    return protect_currency(text)


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


def _term_pattern(terms: list[str]) -> re.Pattern | None:
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
    if start:
        space = text.find(" ", start)
        start = space + 1 if 0 <= space < match.start() else start
    end = min(len(text), start + width)
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > start else end
    return ("… " if start else "") + text[start:end] + (" …" if end < len(text) else "")


def card_link_html(card_id: str, label: str, css_class: str = "kb-card-link", title: str = "") -> str:
    """An anchor that opens a card in place (intercepted by NAV_JS) and is a real deep link."""
    hover = f' title="{escape_text(title)}"' if title else ""
    return f'<a class="{css_class}" href="{escape_text(card_url(card_id))}" data-kb-card="{escape_text(card_id)}"{hover}>{escape_text(label)}</a>'
