"""Key points of a card's answer: one per sentence-level claim (with the bold lead term it sits under)
and one per display formula; these are what an answer is graded against."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from kb.coach.grade.text import latex_to_words, plain_text, split_sentences, tokens
from kb.notes.cards import Card
from kb.notes.misconceptions import split_misconceptions
from kb.vocab import STOPWORDS

FORMULA_WEIGHT = 0.5
LEAD_RE = re.compile(r"^\s*(?:[-*+]\s+|\d+[.)]\s+)?\*\*(?P<lead>[^*]{1,80}?)\*\*\s*(?P<paren>\([^)]{0,80}\)|\$[^$]{0,80}\$)?\s*(?::|\u2014|-)\s*(?P<rest>.*)$")
DISPLAY_MATH_RE = re.compile(r"\$\$(.+?)\$\$", re.S)
BLOCK_SPLIT_RE = re.compile(r"\n\s*\n|\n(?=\s*(?:[-*+]\s|\d+[.)]\s|\*\*))")  # paragraphs, list items, bold leads
BULLET_RE = re.compile(r"^\s*[-*+]\s+")


@dataclass
class KeyPoint:
    text: str  # markdown, for display (formulas keep their LaTeX)
    plain: str  # what is embedded and matched
    kind: Literal["claim", "formula"] = "claim"
    lead: str = ""

    @property
    def weight(self) -> float:
        return FORMULA_WEIGHT if self.kind == "formula" else 1.0


def key_points(card: Card) -> list[KeyPoint]:
    """Sentence-level claims (with their bold lead term) and display formulas from a card's answer;
    the wrong answers a note lists under it (kb.notes.misconceptions) are not among them."""
    body = split_misconceptions(card.answer_md)[0]
    points = _formula_points(body)
    for block in BLOCK_SPLIT_RE.split(DISPLAY_MATH_RE.sub("\n", body)):
        points.extend(_claim_points(block))
    if not points:
        text = card.answer_text.strip() or card.question
        points.append(KeyPoint(text=text, plain=text))
    return points


def _formula_points(body: str) -> list[KeyPoint]:
    """One point per display formula ($$...$$), its LaTeX spelt as words."""
    points = []
    for match in DISPLAY_MATH_RE.finditer(body):
        latex = match.group(1).strip()
        points.append(KeyPoint(text=f"$${latex}$$", plain=latex_to_words(latex), kind="formula"))
    return points


def _claim_points(block: str) -> list[KeyPoint]:
    """One point per sentence of a paragraph or list item; a table or HTML block gives none."""
    block = " ".join(line.strip() for line in block.splitlines() if line.strip())
    if not block or block.startswith(("|", "<")):
        return []
    lead, rest = _split_lead(block)
    points = []
    for sentence in _merge_fragments(split_sentences(rest.strip())):
        plain = plain_text(sentence)
        if len(plain.split()) < 2 and not lead:
            continue
        text = f"**{lead}**: {sentence}" if lead else sentence
        points.append(KeyPoint(text=text, plain=f"{plain_text(lead)}: {plain}" if lead else plain, lead=lead))
    return points


def _split_lead(block: str) -> tuple[str, str]:
    """("MAE", "Robust to outliers. ...") for "**MAE**: Robust to outliers. ..."; no lead: ("", the text)."""
    lead, rest = "", block
    m = LEAD_RE.match(block)
    if m and m.group("rest").strip():
        lead = m.group("lead").strip().rstrip(":").strip()
        rest = (m.group("paren") or "") + " " + m.group("rest")
    elif BULLET_RE.match(block):
        rest = BULLET_RE.sub("", block)
    return lead, rest


def _merge_fragments(sentences: list[str]) -> list[str]:
    """Very short fragments ("Fast.") belong with the claim before them."""
    merged: list[str] = []
    for sentence in sentences:
        if merged and len(plain_text(sentence).split()) < 4:
            merged[-1] = f"{merged[-1]} {sentence}"
        else:
            merged.append(sentence)
    return merged


def claim_body(point: KeyPoint) -> str:
    """A point's plain text without its "Lead: " prefix."""
    return point.plain[len(plain_text(point.lead)) + 2 :] if point.lead else point.plain


def is_compared_term(lead: str, question: str) -> bool:
    """A lead term that names one of the things being compared (not a label like "One-liner")."""
    lead_words = [w for w in tokens(lead) if w not in STOPWORDS]
    if not lead_words:
        return False
    question_words = set(tokens(question))
    if all(w in question_words for w in lead_words):
        return True
    raw = lead.strip()
    return len(raw.split()) == 1 and bool(re.search(r"[A-Z0-9]", raw[1:]))
