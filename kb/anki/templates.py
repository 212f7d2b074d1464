"""Anki card templates, rendered the way Anki shows a card: which fields (and which static text) a
template puts on the question side and on the answer side.

A note type has one template per card kind ("Card 1", "Card 2", ...; a cloze note type has one, used
for every cloze number). Anki's template language is a small mustache:

    {{Field}}  {{filter:Field}}  {{#Field}}...{{/Field}} (shown when not empty)  {{^Field}}...{{/Field}}

`render_side` renders one side for one note. On the question side `{{type:F}}` boxes and
`{{hint:F}}` links show nothing (hints go to the answer); `{{cloze:F}}` hides the card's cloze. On
the answer side `{{FrontSide}}`, the fields the question already shows and the `<hr id=answer>` rule
are left out, since a kb card shows its question above its answer. Special fields (Tags, Deck, Card,
...) and text-to-speech show nothing.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from kb.anki.html import cloze_sides

TAG_RE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
# Anki's own test for an empty field: only whitespace, <br> and empty <div>s.
EMPTY_FIELD_RE = re.compile(r"^(?:\s|&nbsp;|</?(?:br|div)\s?/?>)*$", re.IGNORECASE)
ANSWER_RULE_RE = re.compile(r"<hr\b[^>]*\bid\s*=\s*[\"']?answer\b[\"']?[^>]*>", re.IGNORECASE)
HTML_TAG_RE = re.compile(r"<[^>]*>")


def field_is_empty(html: str) -> bool:
    return bool(EMPTY_FIELD_RE.match(html or ""))


@dataclass
class Ref:
    name: str
    filters: list[str]  # lower case, outermost first


@dataclass
class Section:
    name: str
    inverted: bool  # {{^Field}}: shown when the field is empty
    children: list[Node] = field(default_factory=list)


Node = str | Ref | Section  # static text, a field reference, or a section of nodes


@functools.lru_cache(maxsize=256)  # every note of a note type renders the same few templates
def parse_template(template: str) -> list[Node]:
    """A template as a tree of strings, Refs and Sections (shared: not to be changed)."""
    root: list[Node] = []
    stack: list[tuple[str | None, list[Node]]] = [(None, root)]
    pos = 0
    for match in TAG_RE.finditer(template or ""):
        if match.start() > pos:
            stack[-1][1].append(template[pos : match.start()])
        pos = match.end()
        raw = match.group(1).strip()
        if not raw or raw[0] == "!":
            continue
        if raw[0] in "#^":
            section = Section(raw[1:].strip(), raw[0] == "^")
            stack[-1][1].append(section)
            stack.append((section.name, section.children))
        elif raw[0] == "/":
            name = raw[1:].strip()
            if any(open_name == name for open_name, _ in stack[1:]):
                while stack[-1][0] != name:
                    stack.pop()
                stack.pop()
        elif raw[0] not in "=<>":  # delimiter changes and partials: not in Anki templates
            *filters, name = [part.strip() for part in raw.split(":")]
            stack[-1][1].append(Ref(name, [f.lower() for f in filters]))
    if pos < len(template or ""):
        stack[-1][1].append(template[pos:])
    return root


def referenced_fields(template: str) -> set[str]:
    """Every field name a template uses, in references and conditions."""
    found: set[str] = set()

    def walk(nodes: Sequence[Node]) -> None:
        for node in nodes:
            if isinstance(node, Ref):
                found.add(node.name)
            elif isinstance(node, Section):
                found.add(node.name)
                walk(node.children)

    walk(parse_template(template))
    return found


def cloze_fields(template: str) -> list[str]:
    """The fields a template shows with the cloze filter, in order."""
    found: list[str] = []

    def walk(nodes: Sequence[Node]) -> None:
        for node in nodes:
            if isinstance(node, Ref) and any(f in ("cloze", "cloze-only") for f in node.filters) and node.name not in found:
                found.append(node.name)
            elif isinstance(node, Section):
                walk(node.children)

    walk(parse_template(template))
    return found


@dataclass
class RenderedSide:
    html: str
    shown: list[str] = field(default_factory=list)  # fields whose content this side shows
    hints: list[str] = field(default_factory=list)  # question side: fields behind a hint link


def render_side(template: str, values: dict[str, str], question: bool, cloze: int | None = None,
                leave_out: frozenset[str] | set[str] = frozenset()) -> RenderedSide:
    """One side of a card as HTML; `leave_out` names fields not to show again (the question's, on the answer side)."""
    side = RenderedSide("")

    def ref(node: Ref) -> str:
        if node.name == "FrontSide" or node.name not in values:
            return ""  # also Anki's special fields (Tags, Deck, Card, ...), unless the note has a field so named
        value = values[node.name] or ""
        filters = node.filters
        if field_is_empty(value) or any(f.startswith("tts") for f in filters):
            return ""
        if any(f in ("cloze", "cloze-only") for f in filters):
            if "type" in filters or cloze is None:
                return ""
            hidden, shown = cloze_sides(value, cloze)
            side.shown.append(node.name)
            return hidden if question else shown
        if node.name in leave_out:
            return ""
        if question and "type" in filters:
            return ""
        if question and "hint" in filters:
            side.hints.append(node.name)
            return ""
        if "text" in filters:
            value = HTML_TAG_RE.sub("", value)
        side.shown.append(node.name)
        return value

    def walk(nodes: Sequence[Node]) -> str:
        out: list[str] = []
        for node in nodes:
            if isinstance(node, str):
                out.append(node)
            elif isinstance(node, Ref):
                out.append(ref(node))
            else:
                filled = node.name in values and not field_is_empty(values[node.name])
                if filled != node.inverted:
                    out.append(walk(node.children))
        return "".join(out)

    html = walk(parse_template(template))
    if not question:
        html = ANSWER_RULE_RE.sub("", html)
    side.html = html
    side.shown = list(dict.fromkeys(side.shown))
    side.hints = list(dict.fromkeys(side.hints))
    return side
