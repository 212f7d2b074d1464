"""Anki field HTML -> markdown that kb parses back into the same cards, and Anki's clozes and MathJax.

* MathJax `\\(...\\)` becomes `$...$` and `\\[...\\]` becomes `$$...$$` (also Anki's `[$]...[/$]`
  and `[$$]...[/$$]`); the formula source is kept, with HTML entities and tags inside it undone, so
  `&lt;` and `&gt;` (or raw `<`, `>`) stay `<` and `>`. Anki's LaTeX `[latex]...[/latex]` becomes
  `$...$`, or `$$...$$` for `$$...$$`, `\\[...\\]` and display environments (equation, align, ...).
* Markup becomes markdown: bold, italics, code, lists, links, images, tables; headings inside a field
  become bold lines, so they never end the card's answer. Emphasis is closed at every line, item or
  cell boundary and reopened after it (markdown emphasis cannot span blocks: a cloze around a whole
  block would leave literal `**`).
* Text that markdown or kb's note parser would read as structure is escaped: `*`, `` ` ``, `[`, `$`,
  a `#` or `>` at the start of a line, a `---` line (a setext heading), a `Q:` line (a new question).
* `{{c1::text::hint}}` clozes: `cloze_sides(html, n)` gives the question (cloze n hidden as `[...]`,
  or `[hint]`) and the answer (cloze n in bold); nested clozes are read too.
"""
from __future__ import annotations

import html as htmllib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser

# Private-use characters carry what escaping must not touch through the conversion.
MATH_OPEN, MATH_CLOSE = "\ue000", "\ue001"  # a formula: MATH_OPEN + index + MATH_CLOSE
BREAK = "\ue002"  # a line break (<br>, a <div> line)
HIDE_OPEN, HIDE_CLOSE = "\ue010", "\ue011"  # the brackets of a hidden cloze: [...]
RULE = "\ue003"  # a horizontal rule (<hr>): `* * *` once line starts are escaped
CODE_OPEN, CODE_CLOSE = "\ue004", "\ue005"  # a code block's body: CODE_OPEN + index + CODE_CLOSE, kept verbatim

MATHJAX_RE = re.compile(r"\\\((.*?)\\\)|\\\[(.*?)\\\]|\[\$\](.*?)\[/\$\]|\[\$\$\](.*?)\[/\$\$\]", re.DOTALL)
# Anki's LaTeX images: [latex]...[/latex] holds a LaTeX fragment (text, $...$, $$...$$, \[...\], environments).
LATEX_RE = re.compile(r"\[latex\](.*?)\[/latex\]", re.DOTALL | re.IGNORECASE)
LATEX_MATH_RE = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$", re.DOTALL)
DISPLAY_ENV_RE = re.compile(r"^\s*\\begin\{(equation|align|gather|multline|eqnarray|displaymath|split|alignat|flalign)\*?\}", re.IGNORECASE)
SOUND_RE = re.compile(r"\[sound:([^\]\n]+)\]")
TAG_RE = re.compile(r"<[^>]*>")
CLOZE_OPEN_RE = re.compile(r"\{\{c(\d+)::")
# Lines kb's parser would read as a new question, or markdown as a heading or quote.
QUESTION_LINE_RE = re.compile(r"^((?:\*\*|__)?\s*(?:Q|Question|A|Answer)\s*\d{0,4}\s*)([:.)])", re.IGNORECASE)
LIST_MARKER_RE = re.compile(r"^(\s*(?:[-+*]|\d{1,9}[.)])\s+)")
BLOCK_TAGS = {"p", "blockquote", "section", "article", "header", "footer", "figure", "center", "dl"}
LINE_TAGS = {"div", "dt", "dd", "tr", "caption", "figcaption"}
SKIP_TAGS = {"script", "style", "head", "title", "template"}
EMPHASIS = {"b": "**", "strong": "**", "i": "*", "em": "*", "s": "~~", "strike": "~~", "del": "~~"}
KEPT_INLINE = {"sup", "sub", "u", "mark", "kbd"}


# ---- clozes -------------------------------------------------------------------------------------------


@dataclass
class _Cloze:  # one {{cN::text::hint}}; its text and hint may hold clozes of their own
    number: int
    children: list[ClozeNode] = field(default_factory=list)
    hint: list[ClozeNode] | None = None  # what follows the second ::


ClozeNode = str | _Cloze


def _parse_clozes(text: str) -> list[ClozeNode]:
    """Text as a tree: strings and a _Cloze for every {{cN::...}}, nested ones inside."""
    root: list[ClozeNode] = []
    stack: list[tuple[list[ClozeNode], _Cloze | None]] = [(root, None)]  # (where text goes, the open cloze)
    pos = 0
    while pos < len(text):
        opening = CLOZE_OPEN_RE.match(text, pos)
        if opening:
            cloze = _Cloze(int(opening.group(1)))
            stack[-1][0].append(cloze)
            stack.append((cloze.children, cloze))
            pos = opening.end()
            continue
        if len(stack) > 1 and text.startswith("}}", pos):
            stack.pop()
            pos += 2
            continue
        if (open_cloze := stack[-1][1]) is not None and text.startswith("::", pos) and open_cloze.hint is None:
            open_cloze.hint = []
            stack[-1] = (open_cloze.hint, open_cloze)
            pos += 2
            continue
        stack[-1][0].append(text[pos])
        pos += 1
    return root


def cloze_numbers(text: str) -> list[int]:
    """The cloze numbers used in a field, in ascending order."""
    found: set[int] = set()

    def walk(nodes: Sequence[ClozeNode]) -> None:
        for node in nodes:
            if isinstance(node, _Cloze):
                found.add(node.number)
                walk(node.children)

    walk(_parse_clozes(text))
    return sorted(found)


def cloze_sides(text: str, number: int) -> tuple[str, str]:
    """(question HTML with cloze `number` hidden, answer HTML with it in bold); other clozes show their text."""

    def render(nodes: Sequence[ClozeNode], side: str) -> str:
        out: list[str] = []
        for node in nodes:
            if isinstance(node, str):
                out.append(node)
            elif node.number != number:
                out.append(render(node.children, side))
            elif side == "question":
                hint = render(node.hint, side).strip() if node.hint else ""
                out.append(f"{HIDE_OPEN}{hint or '...'}{HIDE_CLOSE}")
            else:
                out.append(f"<b>{render(node.children, side)}</b>")
        return "".join(out)

    tree = _parse_clozes(text)
    return render(tree, "question"), render(tree, "answer")


# ---- HTML -> markdown -------------------------------------------------------------------------------------


def _math_source(raw: str) -> str:
    """A formula as written in a field: tags out, <br> as a space, entities decoded, one line."""
    raw = re.sub(r"<br\s*/?>", " ", raw, flags=re.IGNORECASE)
    text = htmllib.unescape(TAG_RE.sub("", raw)).replace("\u00a0", " ")
    return re.sub(r"\s*\n\s*", " ", text).strip()


def _latex_to_mathjax(match: re.Match[str]) -> str:
    """One [latex]...[/latex] as MathJax delimiters, which html_to_markdown turns into $...$ / $$...$$."""
    body = match.group(1)
    plain = _math_source(body)
    whole = (re.fullmatch(r"\$\$(.+)\$\$", plain, re.DOTALL), re.fullmatch(r"\\\[(.+)\\\]", plain, re.DOTALL),
             re.fullmatch(r"\$([^$]+)\$", plain), re.fullmatch(r"\\\((.+)\\\)", plain, re.DOTALL))
    for n, found in enumerate(whole):
        if found and not re.search(r"\$|\\[()\[\]]", found.group(1)):
            inner = htmllib.escape(found.group(1).strip(), quote=False)
            return f"\\[{inner}\\]" if n < 2 else f"\\({inner}\\)"
    if DISPLAY_ENV_RE.match(plain):
        return f"\\[{htmllib.escape(plain, quote=False)}\\]"
    if re.search(r"\\[(\[]", plain):  # text with MathJax formulas inside: those are read as they are
        return body
    if "$" in plain:  # text with formulas inside: the formulas become MathJax, the text stays text
        return LATEX_MATH_RE.sub(lambda m: f"\\[{m.group(1)}\\]" if m.group(1) is not None else f"\\({m.group(2)}\\)", body)
    if not re.search(r"[\\^_{}]", plain):
        return body  # plain words: LaTeX typesets them as text
    return f"\\({htmllib.escape(plain, quote=False)}\\)"


def escape_text(text: str) -> str:
    """Inline text with the characters markdown (or kb's `$` math) would read as markup escaped."""
    text = re.sub(r"&(?=#?\w+;)", "&amp;", text)
    # A literal backslash as an entity: a paragraph that starts with a formula and ends in `\\`
    # confuses the math parser (it reads the last backslash as escaping the first `$`).
    text = text.replace("\\", "&#92;").replace("`", "\\`").replace("*", "\\*").replace("[", "\\[").replace("]", "\\]")
    text = re.sub(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])", r"\\_", text)
    text = text.replace("$", "\\$")  # a literal dollar, even a price: `$5 ... $x$` would pair up
    text = text.replace("~~", "\\~\\~")
    return re.sub(r"<(?=[A-Za-z/!?])", "&lt;", text)


@dataclass
class _OpenList:  # a <ul> or <ol> being written
    tag: str
    number: int  # the next item's number (ol)
    width: int  # the marker's width: what a continued line is indented by


class _Converter(HTMLParser):
    def __init__(self, images_alt_from_name: bool = False) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.lists: list[_OpenList] = []
        self.emphasis: dict[str, int] = {}
        self.pending: list[str] = []  # emphasis openers waiting for their first visible text
        self.active: list[str] = []  # emphasis openers written out and not closed yet, in order
        self.skip = 0
        self.pre = 0
        self.code: list[str] | None = None
        self.link: tuple[str, int] | None = None  # (href, start index in out)
        self.table: list[list[str]] | None = None
        self.cell: list[str] | None = None
        self.alt_from_name = images_alt_from_name
        self.media: list[str] = []
        self.code_blocks: list[str] = []

    # -- output helpers
    def _at_line_start(self) -> bool:
        tail = "".join(self.out[-8:])[-200:].rstrip(" ")  # the last pieces: joining all would be quadratic
        return not tail or tail.endswith(("\n", BREAK)) or bool(self.lists and re.search(r"(?:^|\n)\s*(?:-|\d+\.)$", tail))

    def _emit(self, piece: str) -> None:
        (self.cell if self.cell is not None else self.out).append(piece)

    def _line_break(self) -> None:
        self._suspend_emphasis()
        if self.cell is not None:
            self.cell.append("<br>")
        elif not self._at_line_start():
            indent = " " * sum(open_list.width for open_list in self.lists)
            self.out.append(BREAK + indent)

    def _paragraph(self) -> None:
        self._suspend_emphasis()
        if self.lists and self.cell is None:
            if not self._at_line_start():  # a second paragraph of a list item: indented under its marker
                self.out.append("\n\n" + " " * sum(open_list.width for open_list in self.lists))
            return
        if self.cell is None:
            self.out.append("\n\n")

    # -- the parser's callbacks
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag in SKIP_TAGS:
            self.skip += 1
        elif self.skip:
            return
        elif tag == "br":
            (self.code.append("\n") if self.code is not None and self.pre else self._line_break())
        elif tag in BLOCK_TAGS:
            self._paragraph()
        elif tag in LINE_TAGS:
            self._line_break()
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self._paragraph()
            self._open_emphasis("h", "**")
        elif tag in EMPHASIS:
            self._open_emphasis(tag, EMPHASIS[tag])
        elif tag in KEPT_INLINE:
            self._emit(f"<{tag}>")
        elif tag in ("ul", "ol"):
            if not self.lists:
                self._paragraph()
            start = attributes.get("start") or ""
            self.lists.append(_OpenList(tag, int(start) if tag == "ol" and start.isdigit() else 1, 2 if tag == "ul" else 3))
        elif tag == "li":
            self._suspend_emphasis()
            indent = " " * sum(open_list.width for open_list in self.lists[:-1])
            if self.lists and self.lists[-1].tag == "ol":
                marker = f"{self.lists[-1].number}. "
                self.lists[-1].number += 1
                self.lists[-1].width = len(marker)
            else:
                marker = "- "
            self.out.append(("\n" if any(piece.strip() for piece in reversed(self.out)) else "") + indent + marker)
        elif tag == "pre":
            self._suspend_emphasis()
            self.pre += 1
            self.code = []
        elif tag == "code" and self.code is None:
            self.code = []
        elif tag == "a":
            self._flush_emphasis()  # `<b><a>x</a></b>`: the bold goes around the link, not into its label
            self.link = (attributes.get("href") or "", len(self.out))
        elif tag == "img":
            self._image(attributes)
        elif tag == "hr":
            self._suspend_emphasis()
            self.out.append(f"\n\n{RULE}\n\n")
        elif tag == "table":
            self._paragraph()
            self.table = []
        elif tag in ("td", "th") and self.table is not None:
            self._suspend_emphasis()
            if not self.table:
                self.table.append([])
            self.cell = []
        if tag == "tr" and self.table is not None:
            self.table.append([])

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIP_TAGS:
            self.skip = max(0, self.skip - 1)
        elif self.skip:
            return
        elif tag in BLOCK_TAGS:
            self._paragraph()
        elif tag in LINE_TAGS:
            self._line_break()
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self._close_emphasis("h", "**")
            self._paragraph()
        elif tag in EMPHASIS:
            self._close_emphasis(tag, EMPHASIS[tag])
        elif tag in KEPT_INLINE:
            self._emit(f"</{tag}>")
        elif tag in ("ul", "ol") and self.lists:
            self._suspend_emphasis()
            self.lists.pop()
            if not self.lists:
                self.out.append("\n\n")
        elif tag == "li":
            self._suspend_emphasis()
        elif tag == "pre" and self.pre:
            self.pre -= 1
            body = "".join(self.code or []).strip("\n")
            fence = "~~~~" if "```" in body else "```"
            self.code_blocks.append(body)
            self.out.append(f"\n\n{fence}\n{CODE_OPEN}{len(self.code_blocks) - 1}{CODE_CLOSE}\n{fence}\n\n")
            self.code = None
        elif tag == "code" and self.code is not None and not self.pre:
            body = " ".join("".join(self.code).split())
            self.code = None
            if body:
                self._flush_emphasis()
                ticks = "``" if "`" in body else "`"
                pad = " " if body.startswith("`") or body.endswith("`") else ""
                self._emit(f"{ticks}{pad}{body}{pad}{ticks}")
        elif tag == "a" and self.link is not None:
            href, start = self.link
            self.link = None
            label = "".join(self.out[start:]).strip()
            if href and not href.lower().startswith(("javascript:", "data:")):
                del self.out[start:]
                self.out.append(f"[{label or escape_text(href)}]({_destination(href)})")
        elif tag in ("td", "th") and self.cell is not None and self.table is not None:
            self._suspend_emphasis()
            text = "".join(self.cell).replace(BREAK, "<br>").replace("\n", " ").strip()
            self.table[-1].append(text.replace("|", "\\|"))
            self.cell = None
        elif tag == "table" and self.table is not None:
            rows = [row for row in self.table if row]
            self.table = None
            if rows:
                width = max(len(row) for row in rows)
                lines = ["| " + " | ".join(row + [""] * (width - len(row))) + " |" for row in rows]
                lines.insert(1, "|" + "---|" * width)
                self.out.append("\n\n" + "\n".join(lines) + "\n\n")

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.code is not None:
            self.code.append(data)
            return
        text = re.sub(r"[ \t\r\n\f\v\u00a0]+", " ", data)
        if self.cell is None and self._at_line_start():
            text = text.lstrip(" ")
        if not text:
            return
        if self.pending:
            stripped = text.lstrip(" ")
            if not stripped:
                self._emit(text)
                return
            if stripped != text:
                self._emit(" ")
            self._flush_emphasis()
            text = stripped
        self._emit(escape_text(text))

    # -- emphasis, images
    def _open_emphasis(self, tag: str, marker: str) -> None:
        depth = self.emphasis.get(marker, 0)
        self.emphasis[marker] = depth + 1
        if depth == 0:
            self.pending.append(marker)

    def _flush_emphasis(self) -> None:
        """Write out the openers waiting for text (the text comes next)."""
        if self.pending:
            self._emit("".join(self.pending))
            self.active.extend(self.pending)
            self.pending = []

    def _suspend_emphasis(self) -> None:
        """Close the open emphasis before a block or line boundary, to reopen at the next text: markdown
        emphasis never spans paragraphs, list items or table cells (a cloze around a block would leave `**`)."""
        for marker in reversed(self.active):
            self._write_closer(marker)
        self.pending = self.active + self.pending
        self.active = []

    def _write_closer(self, marker: str) -> None:
        target = self.cell if self.cell is not None else self.out
        moved: list[str] = []
        while target and target[-1].startswith(BREAK) and not target[-1].strip(BREAK + " "):
            moved.insert(0, target.pop())  # `<b>x<br></b>`: close the bold before the break
        trailing = ""
        while target and target[-1].endswith(" ") and not target[-1].endswith("\\ "):
            trailing += " "
            target[-1] = target[-1][:-1]
        target.append(marker + (" " if trailing else ""))
        target.extend(moved)

    def _close_emphasis(self, tag: str, marker: str) -> None:
        depth = self.emphasis.get(marker, 0)
        if depth == 0:
            return
        self.emphasis[marker] = depth - 1
        if depth > 1:
            return
        if marker in self.pending:  # nothing visible inside: drop the pair
            self.pending.remove(marker)
            return
        if marker not in self.active:
            return
        # Markers opened inside this one close first and reopen after it (`<b><i>x</b>y</i>`).
        inner = self.active[self.active.index(marker) + 1 :]
        for other in reversed(inner):
            self._write_closer(other)
        self._write_closer(marker)
        self.active = self.active[: self.active.index(marker)]
        self.pending = inner + self.pending

    def _image(self, attrs: dict[str, str | None]) -> None:
        src = (attrs.get("src") or "").strip()
        if not src:
            return
        if "://" not in src and not src.startswith("data:"):
            self.media.append(src)
        alt = attrs.get("alt") or (src.rsplit("/", 1)[-1] if self.alt_from_name else "")
        self._flush_emphasis()
        self._emit(f"![{escape_text(alt)}]({_destination(src)})")


def _destination(target: str) -> str:
    """A link destination as markdown writes it: <...> around names with spaces or parentheses."""
    if re.search(r"[\s()<>]", target):
        return "<" + target.replace("<", "%3C").replace(">", "%3E") + ">"
    return target


def _finish(markdown: str, formulas: list[tuple[str, bool]], keep_hidden: bool = False, code_blocks: list[str] | None = None) -> str:
    """Line breaks, line-start escapes and blank lines; formulas and hidden clozes put back."""
    lines_out: list[str] = []
    fence = None
    for line in markdown.replace(BREAK, f"{BREAK}\n").split("\n"):
        stripped = line.strip()
        if fence is None and stripped in ("```", "~~~~"):
            fence = stripped
        elif fence is not None:
            if stripped == fence:
                fence = None
            lines_out.append(line)
            continue
        line = line.rstrip()
        indent = line[: len(line) - len(line.lstrip())]
        body = line[len(indent):]
        marker = LIST_MARKER_RE.match(body)
        head, rest = (marker.group(1), body[marker.end():]) if marker else ("", body)
        if rest.startswith(("#", ">", "+ ", "- ", "* ")) or re.fullmatch(r"[=\-]+\s*", rest.replace(BREAK, "")):
            rest = "\\" + rest
        rest = QUESTION_LINE_RE.sub(r"\1\\\2", rest)
        lines_out.append(indent + head + rest)
    text = "\n".join(lines_out)
    text = re.sub(rf"{BREAK}(?=\n\s*\S)", "  ", text).replace(BREAK, "")
    text = re.sub(r"[ \t]+\n\n", "\n\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text).strip("\n")

    def formula(match: re.Match[str]) -> str:
        source, display = formulas[int(match.group(1))]
        if not source.strip():
            return ""  # an empty `\(\)` would be `$$`, which opens a display formula that never closes
        # kb reads no formula at `3$x$` or `$x$2`, nor at `$x$\\$`: keep them apart.
        before = " " if match.start() and match.string[match.start() - 1].isdigit() else ""
        after = " " if match.group(2) or match.string[match.end():match.end() + 1] == "\\" else ""
        return before + (f"$${source}$$" if display else f"${source}$") + after

    text = text.replace(RULE, "* * *")
    text = re.sub(f"{CODE_OPEN}(\\d+){CODE_CLOSE}", lambda m: (code_blocks or [])[int(m.group(1))], text)
    text = re.sub(f"{MATH_OPEN}(\\d+){MATH_CLOSE}(?=(\\d)?)", formula, text)
    return text if keep_hidden else unhide(text)


def unhide(markdown: str) -> str:
    """Hidden-cloze marks as the brackets a reader sees: [...] or [hint]."""
    return markdown.replace(HIDE_OPEN, "[").replace(HIDE_CLOSE, "]")


def html_to_markdown(html: str, media: list[str] | None = None, images_alt_from_name: bool = False, keep_hidden: bool = False) -> str:
    """Markdown for one Anki field's HTML; media file names it shows are appended to `media`.

    `images_alt_from_name`: an image with no alt text gets its file name (an answer that is only an
    image then has text); `keep_hidden`: hidden clozes stay marked as HIDE_OPEN...HIDE_CLOSE.
    """
    formulas: list[tuple[str, bool]] = []

    def stash(match: re.Match[str]) -> str:
        inline, display, dollar, dollars = match.groups()
        source = next(g for g in (inline, display, dollar, dollars) if g is not None)
        formulas.append((_math_source(source), display is not None or dollars is not None))
        return f"{MATH_OPEN}{len(formulas) - 1}{MATH_CLOSE}"

    html = LATEX_RE.sub(_latex_to_mathjax, html or "")
    html = MATHJAX_RE.sub(stash, html)
    sounds = [name.strip() for name in SOUND_RE.findall(html)]
    html = SOUND_RE.sub(lambda m: f'<a href="{htmllib.escape(m.group(1).strip())}">{htmllib.escape(m.group(1).strip())}</a>', html)
    converter = _Converter(images_alt_from_name)
    converter.feed(html)
    converter.close()
    if media is not None:
        media.extend(converter.media + sounds)
    return _finish("".join(converter.out), formulas, keep_hidden, converter.code_blocks)
