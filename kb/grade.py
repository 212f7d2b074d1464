"""Grade a free-text answer against a card: key points covered or missed, contradictions, a 0-100 score.

No LLM. Three parts:

1. Key points come from the card's answer: one point per sentence-level claim (a bold lead term
   such as "**MAE**:" is attached to each claim under it) and one per display formula.
2. Coverage: each key point's embedding against the answer's sentences (max cosine), blended with
   how many of the point's content words (ML synonyms folded) the answer uses; the score mixes the
   weighted coverage with the whole answer's similarity to the card's answer.
3. Contradictions: embeddings do not see "mean" vs "median" or "forward" vs "reverse", so a small
   general lexicon of contrasting attributes (kb/data/antonyms.txt), plus the card's own compared
   terms (bold lead terms, or "X vs Y" in the question), finds clauses that attach the opposite
   attribute to something the card describes; a clause that restates a claim of the card with the
   negation flipped counts too. Each contradicting clause divides the score.
"""
from __future__ import annotations

import functools
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import grade_relations as relations
from .lexical import STOPWORDS, stemmer, synonym_groups

ANTONYMS_FILE = Path(__file__).parent / "data" / "antonyms.txt"

# Coverage: cosine below LOW counts as nothing, above HIGH as fully said (all-MiniLM-L6-v2 scale).
COS_LOW, COS_HIGH = 0.30, 0.70
LEXICAL_WEIGHT = 0.35  # share of a point's coverage that comes from its content words
WHOLE_WEIGHT = 0.3  # share of the score from the whole answer's similarity to the card's answer
COVERED_AT = 0.5  # a point counts as covered from this coverage on
FULL_MARKS_AT = 0.7  # weighted coverage that already earns 100 (a spoken answer never says everything)
SCORE_CURVE = 0.5  # < 1 lifts partial answers: saying one point right is worth more than 1/n of the marks
CONTRADICTION_FACTOR = 0.25  # the score is multiplied by this for each contradicting clause
FORMULA_WEIGHT = 0.5
NEGATION_MATCH = 0.72  # cosine above which an answer clause restates a card claim (negation aside)
ANCHOR_WINDOW = 8  # tokens between an attribute and a word it can be about
NEAR_WINDOW = 2  # an attribute this close to a word is surely about it ("biased estimate", "variance is low")
NEGATION_OVERLAP = 0.5  # share of content words two clauses must share to be "the same claim"
HINT_COST = 15  # each hint lowers the best score still possible by this much
MAX_ANSWER_CHARS = 4000

LESS_MODIFIERS = frozenset({"less", "fewer"})
LEVEL_WORDS = frozenset({"low", "high"})  # "low-entropy", "high-variance": an attribute of the word they join
PREPOSITIONS = frozenset("to on from for of in at by into onto".split())
NEGATIONS = frozenset("not no never without nor neither nothing none cannot cant dont doesnt isnt arent wont didnt wasnt hardly".split())
GENERIC = frozenset(
    """loss losses model models use uses used using get gets make makes one two also just like way thing things
    it its they them is are be been being has have had do does done can could should would may might must
    very much many more most less least some all each every any other same different per via""".split()
)
CLAUSE_SPLIT_RE = re.compile(r"\s*(?:;|:\s|\u2014|\u2013| -- |\bbut\b|\bwhile\b|\bwhereas\b|\bunlike\b|\balthough\b|\bhowever\b|\bversus\b|, and\b|\bwhich\b)\s*", re.I)
ARROW_RE = re.compile(r"\s*(?:\u2192|->|=>)\s*")
SENTENCE_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9$*(\[\"'])")
ABBREVIATIONS = ("e.g.", "i.e.", "vs.", "etc.", "cf.", "approx.")
TOKEN_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
LEAD_RE = re.compile(r"^\s*(?:[-*+]\s+|\d+[.)]\s+)?\*\*(?P<lead>[^*]{1,80}?)\*\*\s*(?P<paren>\([^)]{0,80}\)|\$[^$]{0,80}\$)?\s*(?::|\u2014|-)\s*(?P<rest>.*)$")
DISPLAY_MATH_RE = re.compile(r"\$\$(.+?)\$\$", re.S)


@dataclass
class KeyPoint:
    text: str  # markdown, for display (formulas keep their LaTeX)
    plain: str  # what is embedded and matched
    kind: str = "claim"  # claim | formula
    lead: str = ""

    @property
    def weight(self) -> float:
        return FORMULA_WEIGHT if self.kind == "formula" else 1.0


@dataclass
class Grade:
    score: int
    covered: list[str]
    missed: list[str]
    contradictions: list[str] = field(default_factory=list)  # answer clauses that say the opposite of the card
    coverage: list[float] = field(default_factory=list)  # per key point, in key-point order
    key_points: list[KeyPoint] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"score": self.score, "covered": self.covered, "missed": self.missed, "contradictions": self.contradictions}


# ---- text helpers ----------------------------------------------------------------------------------
def _stem(word: str) -> str:
    if len(word) > 5 and word.endswith("our"):  # British spelling: behaviour -> behavior, favour -> favor
        word = word[:-2] + "r"
    return stemmer().stemWord(word)


def latex_to_words(latex: str) -> str:
    """A formula as words an answer might say: \\text{} contents, command names, symbols."""
    text = re.sub(r"\\(?:text|mathrm|operatorname|mathbf|mathcal|mathbb|hat|bar|tilde)\s*\{([^{}]*)\}", r" \1 ", latex)
    text = re.sub(r"\\(left|right|big|Big|bigg|Bigg|quad|;|,|!)", " ", text)
    text = re.sub(r"\\([A-Za-z]+)", r" \1 ", text)
    text = re.sub(r"[{}_^\\]", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def _plain(markdown: str) -> str:
    """Inline markdown -> text: emphasis and links dropped, inline formulas spelt as words."""
    from .markdown import WIKI_LINK_RE, wiki_link_text

    text = WIKI_LINK_RE.sub(wiki_link_text, markdown)
    text = re.sub(r"\$([^$]+)\$", lambda m: latex_to_words(m.group(1)), text)
    text = re.sub(r"\*\*|__|`", "", text)
    text = re.sub(r"(?<![A-Za-z0-9])[*_](?=\S)|(?<=\S)[*_](?![A-Za-z0-9])", "", text)
    text = re.sub(r"<[^>]{0,200}>", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def split_sentences(text: str) -> list[str]:
    protected = text
    for i, abbr in enumerate(ABBREVIATIONS):
        protected = protected.replace(abbr, f"\u0000{i}\u0000")
    parts = SENTENCE_RE.split(protected)
    out = []
    for part in parts:
        for i, abbr in enumerate(ABBREVIATIONS):
            part = part.replace(f"\u0000{i}\u0000", abbr)
        if part.strip():
            out.append(part.strip())
    return out


@functools.lru_cache(maxsize=1)
def _synonym_patterns() -> list[tuple[re.Pattern, str]]:
    """Glossary phrases -> their group's acronym ("mean absolute error" -> "mae"), longest phrases first."""
    pairs = []
    for group in synonym_groups():
        canonical = re.sub(r"[^a-z0-9]+", "", group[0])
        if " " in group[0] or len(canonical) > 6:  # fold names onto acronyms only, never "high variance" -> "overfitting"
            continue
        for phrase in group:
            words = TOKEN_RE.findall(phrase.lower())
            if words:
                pairs.append((words, canonical))
    pairs.sort(key=lambda p: -len(" ".join(p[0])))
    return [(re.compile(r"\b" + r"[\s-]+".join(map(re.escape, words)) + r"\b"), canonical) for words, canonical in pairs]


@functools.lru_cache(maxsize=8192)  # the same clauses and words are tokenised by several checks
def canonical_text(text: str) -> str:
    """Lower-case text with ML synonyms folded to one form (\"mean absolute error\" -> \"mae\")."""
    text = text.lower()
    for pattern, canonical in _synonym_patterns():
        text = pattern.sub(canonical, text)
    return text


def tokens(text: str) -> list[str]:
    """Lower-case tokens after synonym folding; hyphenated compounds kept whole (on-policy)."""
    return list(_tokens(text))


@functools.lru_cache(maxsize=8192)
def _tokens(text: str) -> tuple[str, ...]:
    return tuple(TOKEN_RE.findall(canonical_text(text).replace("'", "")))


def content_stems(text: str) -> set[str]:
    out = set()
    for tok in tokens(text):
        for part in [tok, *tok.split("-")] if "-" in tok else [tok]:
            if part not in STOPWORDS and part not in GENERIC and len(part) > 1:
                out.add(_stem(part))
    return out


# ---- key points ------------------------------------------------------------------------------------
def _is_compared_term(lead: str, question: str) -> bool:
    """A lead term that names one of the things being compared (not a label like "One-liner")."""
    lead_words = [w for w in tokens(lead) if w not in STOPWORDS]
    if not lead_words:
        return False
    question_words = set(tokens(question))
    if all(w in question_words for w in lead_words):
        return True
    raw = lead.strip()
    return len(raw.split()) == 1 and bool(re.search(r"[A-Z0-9]", raw[1:]))


def key_points(card) -> list[KeyPoint]:
    """Sentence-level claims (with their bold lead term) and display formulas from a card's answer."""
    points: list[KeyPoint] = []
    body = card.answer_md
    for match in DISPLAY_MATH_RE.finditer(body):
        latex = match.group(1).strip()
        points.append(KeyPoint(text=f"$${latex}$$", plain=latex_to_words(latex), kind="formula"))
    body = DISPLAY_MATH_RE.sub("\n", body)
    for block in re.split(r"\n\s*\n|\n(?=\s*(?:[-*+]\s|\d+[.)]\s|\*\*))", body):
        block = " ".join(line.strip() for line in block.splitlines() if line.strip())
        if not block or block.startswith(("|", "<")):
            continue
        lead, rest = "", block
        m = LEAD_RE.match(block)
        if m and m.group("rest").strip():
            lead = m.group("lead").strip().rstrip(":").strip()
            rest = (m.group("paren") or "") + " " + m.group("rest")
        elif re.match(r"^\s*[-*+]\s+", block):
            rest = re.sub(r"^\s*[-*+]\s+", "", block)
        sentences = split_sentences(rest.strip())
        merged: list[str] = []
        for sentence in sentences:  # very short fragments ("Fast.") belong with the claim before them
            if merged and len(_plain(sentence).split()) < 4:
                merged[-1] = f"{merged[-1]} {sentence}"
            else:
                merged.append(sentence)
        for sentence in merged:
            plain = _plain(sentence)
            if len(plain.split()) < 2 and not lead:
                continue
            text = f"**{lead}**: {sentence}" if lead else sentence
            points.append(KeyPoint(text=text, plain=f"{_plain(lead)}: {plain}" if lead else plain, lead=lead))
    if not points:
        text = card.answer_text.strip() or card.question
        points.append(KeyPoint(text=text, plain=text))
    return points


# ---- contradictions --------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def antonym_lexicon() -> dict[str, tuple[tuple[int, int], ...]]:
    """word -> its (axis, pole)s ("lower" is both less and the opposite of upper).

    Exact word forms: stems would merge "bias" (a noun) with "biased"."""
    lexicon: dict[str, tuple[tuple[int, int], ...]] = {}
    for axis, line in enumerate(ANTONYMS_FILE.read_text(encoding="utf-8").splitlines()):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        for pole, words in enumerate(line.split("|")):
            for word in words.split():
                word = word.lower()
                if (axis, pole) not in lexicon.get(word, ()):
                    lexicon[word] = lexicon.get(word, ()) + ((axis, pole),)
    return lexicon


def _clauses(text: str) -> list[str]:
    sentences: list[str] = []
    for sentence in split_sentences(text):  # "Smooth." still speaks about the sentence before it
        if sentences and len(sentence.split()) < 4:
            sentences[-1] = f"{sentences[-1]} {sentence}"
        else:
            sentences.append(sentence)
    out = []
    for sentence in sentences:
        out.extend(c for c in CLAUSE_SPLIT_RE.split(sentence) if c and c.strip())
    return out


def _facts(clause: str, compared: dict[str, int], axis_sizes: dict, lead: str = "", strict: bool = True, near: set | None = None) -> set[tuple[str, object, int]]:
    """(anchor, axis, pole) triples: a contrasting attribute and the words it is said about.

    Compared terms (the card's MSE / MAE / Huber) form one more axis whose anchors are the attribute
    words near them: an attribute belongs to the nearest compared term before it. The card (not
    strict) also gives it to the claim's lead term, so only a clear mismatch counts as a contradiction.
    `near` collects the facts whose word sits right beside the attribute ("biased estimate").
    """
    lexicon = antonym_lexicon()
    toks = tokens(clause)
    items: list[tuple[int, str, tuple]] = []  # (position, stem, polarities); () for a plain word
    compound: set[tuple[str, object, int]] = set()  # facts inside one hyphenated word ("low-entropy")
    for pos, tok in enumerate(toks):
        if tok in lexicon:
            if not _is_modifier(toks, pos, lexicon):
                items.append((pos, _stem(tok), lexicon[tok]))
            continue
        parts = tok.split("-") if "-" in tok else [tok]
        if len(parts) == 2 and parts[0] in LEVEL_WORDS and parts[1] not in lexicon and _stem(parts[1]) not in compared:
            # "low-entropy policies" is one thing: "penalizes" is about it, not about entropy
            items.append((pos, _stem(tok), ()))
            compound.update((_stem(parts[1]), axis, pole) for axis, pole in lexicon[parts[0]])
            continue
        for part in parts:
            stem = _stem(part)
            if stem in compared:
                items.append((pos, stem, (("compared", compared[stem]),)))
            elif part in lexicon:
                if not _is_modifier(toks, pos, lexicon):
                    items.append((pos, stem, lexicon[part]))
            elif part not in STOPWORDS and part not in GENERIC and len(part) > 1:
                items.append((pos, stem, ()))
    lead_poles = {compared[_stem(w)] for w in tokens(lead) if _stem(w) in compared}
    if lead and not strict:  # the card's lead term is what every clause under it speaks about
        items.extend((-1, _stem(w), ()) for w in tokens(lead) if w not in STOPWORDS and _stem(w) not in compared)
    # A term right after "than" is the yardstick, not the subject ("SAC is more efficient than PPO, so it suits ...").
    entities = [(p, pol[0][1]) for p, _, pol in items if pol and pol[0][0] == "compared" and not (p > 0 and toks[p - 1] == "than")]
    facts = set()
    for pos, stem, polarities in items:
        if not polarities or polarities[0][0] == "compared":
            continue
        negated = any(t in NEGATIONS for t in toks[max(0, pos - 3) : pos])
        if pos > 0 and toks[pos - 1] in LESS_MODIFIERS:  # "less stable" says the opposite of "stable"
            negated = not negated
        noun = next((s for p, s, pol in items if p > pos and not pol), None) if pos >= 0 else None
        # "Huber is more robust to large errors": after a preposition, with an attribute already said
        # before it, "large" describes the errors, not Huber.
        subject_at = max((p for p, _ in entities if p < pos), default=-1)
        of_object = strict and pos > 0 and toks[pos - 1] in PREPOSITIONS and any(
            subject_at < p < pos - 1 and pol and pol[0][0] != "compared" for p, _, pol in items)
        for axis, pole in polarities:
            if negated:
                if axis_sizes.get(axis, 2) != 2:
                    continue
                pole = 1 - pole
            for other_pos, other_stem, other_pol in items:
                if other_pos == pos or any(a == axis for a, _ in other_pol):
                    continue
                if other_pos >= 0 and abs(other_pos - pos) > ANCHOR_WINDOW:
                    continue  # an attribute speaks about the words near it, not the whole clause
                if of_object and other_pos < pos:
                    continue
                if strict and other_pol and not _nearest_of_its_axis(items, other_pos, other_pol, pos):
                    continue  # "forward is seeking and reverse is covering": pair each attribute with its own subject
                facts.add((other_stem, axis, pole))
                if near is not None and other_pos >= 0 and abs(other_pos - pos) <= NEAR_WINDOW:
                    near.add((other_stem, axis, pole))
            if compared and not negated and not of_object:
                before = [e for e in entities if e[0] < pos]
                chosen = {before[-1][1]} if before else ({entities[0][1]} if entities else set())
                if not strict:
                    chosen |= lead_poles
                for entity in chosen:
                    facts.add((stem, "compared", entity))
                    if noun:  # "high variance" is one attribute; "high bias" another
                        facts.add((f"{axis}/{pole}/{noun}", "compared", entity))
    facts |= compound
    if near is not None:
        near |= compound
    if strict:  # an answer clause that gives one thing both poles ("less bias, more variance") is not read
        poles: dict[tuple, set] = {}
        for anchor, axis, pole in facts:
            poles.setdefault((anchor, axis), set()).add(pole)
        facts = {f for f in facts if len(poles[(f[0], f[1])]) == 1}
    return facts


def _answer_clauses(answer: str, compared: dict[str, int]) -> list[str]:
    """Clauses of an answer; a clause with no compared term inherits the last one named before it in
    the sentence ("hinge keeps a gradient, and it gives probabilities": "it" is still hinge)."""
    lexicon = antonym_lexicon()
    out = []
    for sentence in split_sentences(answer):
        subject = ""
        clauses = _clauses(sentence)
        first = next((w for w in tokens(clauses[0]) if w not in STOPWORDS and w not in GENERIC and w not in lexicon), "") if clauses else ""
        for clause in clauses:
            words = tokens(clause)
            named = [w for i, w in enumerate(words) if _stem(w) in compared and not (i > 0 and words[i - 1] == "than")]
            if named:
                subject = named[-1]
            elif subject:
                clause = f"{subject} {clause}"
            elif first and not any(w not in STOPWORDS and w not in GENERIC and w not in lexicon for w in words):
                clause = f"{first} {clause}"  # "..., which is biased": about the sentence's subject
            out.append(clause)
    return out


def _nearest_of_its_axis(items, other_pos: int, other_pol: tuple, pos: int) -> bool:
    """When a clause names several poles of one axis, only the nearest one before `pos` (else after) speaks for it."""
    axis = other_pol[0][0]
    same_axis = [(p, pol) for p, _, pol in items if pol and pol[0][0] == axis]
    if len({pol[0][1] for _, pol in same_axis}) < 2:
        return True
    before = [p for p, _ in same_axis if p < pos]
    nearest = max(before) if before else min(p for p, _ in same_axis if p > pos)
    return other_pos == nearest


def _says_something(sentence: str, question_stems: set[str]) -> bool:
    """False for a sentence that only restates the question ("What is focal loss?" adds nothing)."""
    stems = content_stems(sentence)
    new = stems - question_stems
    return bool(new) and (len(new) >= 2 or len(stems & question_stems) < 2)


# Verbs that deny what follows them: "prevents premature collapse" says the same as "doesn't collapse prematurely".
PREVENTIONS = frozenset("prevent prevents prevented preventing avoid avoids avoiding stop stops stopping".split())


def _is_negated(text: str) -> bool:
    return any(t in NEGATIONS or t in PREVENTIONS for t in tokens(text))


def _negated_words(text: str) -> set[str]:
    """Stems of the first content word after each negation ("never vanish" -> vanish)."""
    toks = tokens(text)
    out = set()
    for pos, tok in enumerate(toks):
        if tok in NEGATIONS or tok in PREVENTIONS:
            following = [t for t in toks[pos + 1 : pos + 6] if t not in STOPWORDS and t not in GENERIC and t not in NEGATIONS]
            if following:
                out.add(_stem(following[0]))
    return out


def _same_negated_word(a: str, b: str) -> bool:
    """The two clauses say nearly the same words and the negated word is one of them:
    "never vanish" vs "vanish", not "doesn't blow up" vs "robust"."""
    negated = _negated_words(a) | _negated_words(b)
    stems_a, stems_b = content_stems(a), content_stems(b)
    overlap = len(stems_a & stems_b) / max(1, len(stems_a | stems_b))
    return bool(negated & stems_a & stems_b) and overlap >= NEGATION_OVERLAP


def _without_negation(text: str) -> str:
    return " ".join(w for w in text.split() if canonical_text(w).strip(".,;:!?'\"").replace("'", "") not in NEGATIONS)


def _is_modifier(toks: list[str], pos: int, lexicon: dict) -> bool:
    """"more robust", "less stable": a comparative in front of an adjective is not itself an attribute."""
    if toks[pos] not in ("more", "less", "much", "very") or pos + 1 >= len(toks):
        return False
    following = toks[pos + 1]
    return following in lexicon or following.endswith(("ive", "ful", "able", "ible", "ous", "al", "ent", "ant", "ic", "ed"))


@functools.lru_cache(maxsize=1)
def _axis_sizes() -> dict:
    sizes: dict = {}
    for polarities in antonym_lexicon().values():
        for axis, pole in polarities:
            sizes[axis] = max(sizes.get(axis, 0), pole + 1)
    return sizes


def _compared_terms(card, points: list[KeyPoint]) -> dict[str, int]:
    """The card's compared things (bold leads like MSE / MAE / Huber) as one more contrast axis."""
    leads: list[set[str]] = []
    for point in points:
        if point.lead and _is_compared_term(point.lead, card.question):
            stems = {_stem(w) for w in tokens(point.lead) if w not in STOPWORDS}
            if stems and stems not in leads:
                leads.append(stems)
    if len(leads) < 2:
        leads = _question_comparison(card.question)
    if len(leads) < 2:
        return {}
    shared = set.intersection(*leads) if leads else set()
    compared: dict[str, int] = {}
    for pole, stems in enumerate(leads):
        for stem in stems - shared:
            if not any(_stem(w) == stem for w in antonym_lexicon()):
                compared.setdefault(stem, pole)
    return compared


COMPARISON_RE = re.compile(r"([a-z0-9][a-z0-9-]*)(?: loss(?:es)?)? (?:vs|versus|and not|and|or|instead of|over|compared to) (?:the )?([a-z0-9][a-z0-9-]*)")


def _question_comparison(question: str) -> list[set[str]]:
    """Things a question sets against each other: "MSE and MAE", "Huber loss instead of MSE"."""
    text = " ".join(tokens(question))
    found: list[set[str]] = []
    for match in COMPARISON_RE.finditer(text):
        for word in match.groups():
            if word not in STOPWORDS and word not in GENERIC and {_stem(word)} not in found:
                found.append({_stem(word)})
    return found


def contradictions(card, points: list[KeyPoint], answer: str) -> tuple[list[str], set[int]]:
    """Answer clauses that attach to an entity the opposite of what the card says, and the points they contradict."""
    compared = _compared_terms(card, points)
    sizes = {**_axis_sizes(), "compared": max(2, len(set(compared.values())) or 2)}
    card_facts: dict[tuple[str, object], dict[int, set[int]]] = {}
    for index, point in enumerate(points):
        if point.kind != "claim":
            continue
        for clause in _clauses(point.plain):
            for anchor, axis, pole in _facts(clause, compared, sizes, lead=point.lead, strict=False):
                card_facts.setdefault((anchor, axis), {}).setdefault(pole, set()).add(index)
    # A clash about a named thing (a compared term, a word of the question or of a lead) or about the
    # word right beside the attribute counts at once; a clash about a word further off needs a second one.
    named = set(compared) | content_stems(card.question) | {_stem(w) for p in points for w in tokens(p.lead)}
    found: list[str] = []
    hit_points: set[int] = set()
    for clause in _answer_clauses(answer, compared):
        conflicting: set[int] = set()
        strong, weak = 0, set()
        near: set = set()
        for anchor, axis, pole in _facts(clause, compared, sizes, near=near):
            poles = card_facts.get((anchor, axis))
            if poles and pole not in poles:
                if axis == "compared" or anchor in named or (anchor, axis, pole) in near:
                    strong += 1
                else:
                    weak.add(anchor)
                for other in poles.values():
                    conflicting |= other
        if conflicting and (strong or len(weak) >= 2):
            found.append(clause.strip())
            hit_points |= conflicting
    return found, hit_points


def _lead_poles(card, points: list[KeyPoint]) -> list[tuple[set[str], str]]:
    """The card's compared lead terms ("Forward KL", "Reverse KL") as (distinctive stems, name)."""
    leads: list[tuple[set[str], str]] = []
    for point in points:
        if point.lead and _is_compared_term(point.lead, card.question):
            stems = {_stem(w) for w in tokens(point.lead) if w not in STOPWORDS}
            if stems and all(stems != known for known, _ in leads):
                leads.append((stems, _plain(point.lead)))
    shared = set.intersection(*(stems for stems, _ in leads)) if leads else set()
    return [(stems - shared, name) for stems, name in leads if stems - shared]


def _pole_of(words: list[str], leads: list[tuple[set[str], str]]) -> int | None:
    """The lead term the words name: the one most of them belong to ("td 0" is TD(0), not TD(lambda))."""
    stems = {_stem(w) for w in words}
    hits = sorted(((len(stems & lead), i) for i, (lead, _) in enumerate(leads) if stems & lead), reverse=True)
    if not hits or (len(hits) > 1 and hits[0][0] == hits[1][0]):
        return None
    return hits[0][1]


def _pair_poles(card, points: list[KeyPoint]) -> dict[str, int]:
    """Ordered formula arguments the card ties to one compared term: {"pq": forward, "qp": reverse}."""
    leads = _lead_poles(card, points)
    ties: dict[str, set[int]] = {}
    for point in points:
        pole = _pole_of(tokens(point.lead), leads) if point.lead else None
        if pole is None:
            continue
        for _, pair in relations.ordered_pairs(point.text):
            ties.setdefault(pair, set()).add(pole)
    return {pair: next(iter(poles)) for pair, poles in ties.items() if len(poles) == 1 and pair[::-1] in ties}


def _distinctive_words(card, points: list[KeyPoint]) -> tuple[list[tuple[set[str], str]], list[set[str]]]:
    """Per compared lead term, the content words the card says under it (C51: atoms, probabilities;
    QR-DQN: quantiles, locations)."""
    leads = _lead_poles(card, points)
    if len(leads) < 2:
        return leads, []
    skip = content_stems(card.question) | set().union(*(stems for stems, _ in leads))
    words: list[set[str]] = [set() for _ in leads]
    for point in points:
        pole = _pole_of(tokens(point.lead), leads) if point.lead and point.kind == "claim" else None
        if pole is not None:
            body = point.plain[len(_plain(point.lead)) + 2 :]
            words[pole] |= {w for w in content_stems(body) if w not in skip and w not in antonym_lexicon()}
    return leads, words


def _misattributed(leads, distinctive: list[set[str]], clause: str) -> bool:
    """A clause that gives one compared term at least two things the card says only of another
    ("C51 uses fixed quantiles and learns atom locations"), and nothing of its own."""
    words = tokens(clause)
    own: dict[int, set] = {}
    foreign: dict[int, set] = {}
    subject = None
    for i, word in enumerate(words):
        pole = _pole_of([word], leads)
        if pole is not None and not (i > 0 and words[i - 1] == "than"):
            subject = pole
            continue
        if subject is None:
            continue
        stem = _stem(word)
        others = [d for j, d in enumerate(distinctive) if j != subject]
        if stem in distinctive[subject] and not any(stem in d for d in others):
            own.setdefault(subject, set()).add(stem)
        elif stem not in distinctive[subject] and any(stem in d for d in others):
            foreign.setdefault(subject, set()).add(stem)
    named = {_pole_of([w], leads) for w in words} - {None}
    if len(named) != 1:  # "Huber is MSE near zero and MAE in the tails" relates terms; it gives none another's words
        return False
    return any(len(found) >= MISATTRIBUTED_WORDS and not own.get(pole) for pole, found in foreign.items())


def _resolve_ordered_pairs(card, points: list[KeyPoint], answer: str) -> tuple[str, list[str], dict[str, str]]:
    """Write KL(q||p) as the card's name for that order ("Reverse KL"), so attribute checks see it; and
    flag "Forward KL is KL(q||p)": a name set equal to the other order."""
    poles = _pair_poles(card, points)
    if not poles:
        return answer, [], {}
    leads = _lead_poles(card, points)
    names = {i: name for i, (_, name) in enumerate(leads)}
    clashes = []
    for clause in _clauses(answer):
        for start, pair in relations.ordered_pairs(clause):
            before = tokens(clause[:start])[-4:]
            named = [p for p in (_pole_of([w], leads) for w in before) if p is not None]
            if pair in poles and named and named[-1] != poles[pair] and any(w in ("is", "are", "means", "equals") for w in before):
                if clause.strip() not in clashes:
                    clashes.append(clause.strip())
    pattern = re.compile(r"(?:\b(?:D|KL|D_?\{?(?:\\text\{)?KL\}?\}?)\s*)?" + relations.ORDERED_PAIR_RE.pattern, re.I)

    def rename(match: re.Match) -> str:
        pair = (match.group(1) + match.group(2)).lower()
        if pair in poles and poles[pair] in names:
            written[names[poles[pair]]] = match.group(0).strip()
            return f" {names[poles[pair]]}{RENAMED_MARK} "
        return match.group(0)

    written: dict[str, str] = {}
    renamed = pattern.sub(rename, answer)
    return renamed, clashes, written


MISATTRIBUTED_WORDS = 2  # another term's own words a clause must give a term before it counts as a mix-up
NUMBER_SKIP = STOPWORDS | GENERIC | {"than", "step", "steps", "top", "epoch", "epochs", "layer", "layers", "page", "times", "dimension"}
RENAMED_MARK = "\u2060"  # an invisible word joiner after a renamed formula: no token, and findable again


def _as_written(clause: str, written: dict[str, str]) -> str:
    """A flagged clause of the renamed answer, shown with the formula the student wrote."""
    for name, original in written.items():
        clause = clause.replace(f"{name}{RENAMED_MARK}", original)
    return re.sub(r"\s+", " ", clause).strip()


@dataclass
class CardRelations:
    """What the relation checks need from a card, worked out once per card version."""
    question: frozenset
    comparisons: list
    dismisses: bool
    named: set
    roles: set
    pairs: dict
    denied: set
    affirmed: set
    numbers: dict
    leads: list
    distinctive: list


_RELATIONS_CACHE: OrderedDict[tuple, CardRelations] = OrderedDict()
_RELATIONS_LOCK = threading.Lock()


def card_relations(card, points: list[KeyPoint]) -> CardRelations:
    key = (card.id, getattr(card, "text_hash", card.answer_md))
    with _RELATIONS_LOCK:
        if key in _RELATIONS_CACHE:
            _RELATIONS_CACHE.move_to_end(key)
            return _RELATIONS_CACHE[key]
    question = frozenset(content_stems(card.question))
    comparisons, dismisses = [], False
    for point in points:
        if point.kind != "claim":
            continue
        subject = frozenset(_stem(w) for w in tokens(point.lead) if w not in STOPWORDS) or question
        body = point.plain[len(_plain(point.lead)) + 2 :] if point.lead else point.plain
        dismisses = dismisses or relations.dismisses(body)
        for clause in _clauses(body):
            comparisons.extend(relations.comparisons(clause, subject))
    named = set(question) | {_stem(w) for p in points for w in tokens(p.lead) if w not in STOPWORDS}
    roles, pairs, denied = _card_roles(card, points)
    affirmed = set().union(*(relations.affirmed_terms(tokens(c), _stem) for p in points if p.kind == "claim" for c in _clauses(p.plain)))
    numbers = relations.numbers_said(" ".join(p.plain for p in points if p.kind == "claim"), _stem, NUMBER_SKIP)
    leads, distinctive = _distinctive_words(card, points)
    value = CardRelations(question, comparisons, dismisses, named, roles, pairs, denied, affirmed, numbers, leads, distinctive)
    with _RELATIONS_LOCK:
        _RELATIONS_CACHE[key] = value
        while len(_RELATIONS_CACHE) > 512:
            _RELATIONS_CACHE.popitem(last=False)
    return value


def _relation_clashes(card, points: list[KeyPoint], units: list[str]) -> list[str]:
    """Answer clauses that reverse one of the card's comparisons or swap its roles, dismiss what the
    card is about, deny what it says is there, or claim what it says is not needed."""
    rel = card_relations(card, points)
    question, card_comparisons, card_dismisses, named = rel.question, rel.comparisons, rel.dismisses, rel.named
    roles, card_pairs, card_denied, card_affirmed = rel.roles, rel.pairs, rel.denied, rel.affirmed
    found = []
    for unit in units:
        for clause in _clauses(unit):
            words = tokens(clause)
            said = relations.comparisons(clause)
            if said and card_comparisons and relations.clashing_comparison(card_comparisons, said):
                found.append(clause.strip())
            elif rel.distinctive and _misattributed(rel.leads, rel.distinctive, clause):
                found.append(clause.strip())  # "C51 learns atom locations": another term's words on this one
            elif rel.numbers and relations.wrong_number(rel.numbers, relations.numbers_said(clause, _stem, NUMBER_SKIP)):
                found.append(clause.strip())  # "a temperature of 10" where the card says 0.07
            elif card_comparisons and relations.clashing_superlative(card_comparisons, relations.superlatives(clause)):
                found.append(clause.strip())  # "B is the most stable option" where the card says A is more stable than B
            elif not card_dismisses and relations.dismisses(clause) and content_stems(clause) & (named | card_affirmed):
                found.append(clause.strip())
            elif relations.swapped_roles(card_pairs, relations.role_pairs(words, roles, _stem)):
                found.append(clause.strip())  # "the student teaches the teacher": the card's roles swapped
            elif relations.denied_terms(words, _stem) & named - card_denied - question:
                found.append(clause.strip())  # "with no KL penalty": denies what the card says is there
            elif relations.affirmed_terms(words, _stem) & (named & card_denied) - card_affirmed:
                found.append(clause.strip())  # "needs a separately trained critic" where the card says "no critic"
    return found


def _card_roles(card, points: list[KeyPoint]) -> tuple[set[str], set[tuple[str, str]], set[str]]:
    """The card's things (its content words), the ordered pairs of them it links by a short run of
    words ("student [to match] teacher"), and the words it itself denies ("no critic")."""
    words = tokens(" ".join(p.plain for p in points if p.kind == "claim"))
    counts: dict[str, int] = {}
    for word in words:
        if word not in STOPWORDS and word not in GENERIC and word not in NEGATIONS and len(word) > 2 and word not in antonym_lexicon():
            counts[_stem(word)] = counts.get(_stem(word), 0) + 1
    roles = set(counts)
    pairs: dict[tuple[str, str], frozenset] = {}
    for point in points:
        if point.kind == "claim":
            for clause in _clauses(point.plain):
                for pair, linking in relations.role_pairs(tokens(clause), roles, _stem).items():
                    pairs[pair] = pairs.get(pair, frozenset()) | linking
    denied = relations.denied_terms(words, _stem) | {_stem(w) for w in _negated_words_all(words)}
    return roles, pairs, denied


def _negated_words_all(words: list[str]) -> set[str]:
    """Every content word within three words after a negation in the card (it denies them itself)."""
    out = set()
    for pos, word in enumerate(words):
        if word in NEGATIONS or word.startswith(("non-", "un")):
            out.update(w for w in words[pos + 1 : pos + 4] if w not in STOPWORDS)
    return out


# ---- grading -----------------------------------------------------------------------------------------
class Grader:
    """Grades answers with the real sentence encoder; key-point embeddings are cached per card."""

    def __init__(self, encoder, cache_size: int = 256):
        self.encoder = encoder
        self._cache: OrderedDict[str, object] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()  # the web app grades from several threads

    def _cached(self, key: str, make):
        """A per-card value, computed once (outside the lock: encoding is slow) and kept in an LRU."""
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        value = make()
        with self._lock:
            self._cache[key] = value
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return value

    def card_points(self, card) -> tuple[list[KeyPoint], np.ndarray, list[set[str]]]:
        def make():
            points = key_points(card)
            return points, self.encoder.encode([p.plain for p in points]), [content_stems(p.plain) for p in points]

        return self._cached(f"points:{card.id}:{card.text_hash}", make)

    def grade(self, card, answer: str, hints: int = 0) -> Grade:
        points, point_vectors, point_stems = self.card_points(card)
        answer = (answer or "").strip()[:MAX_ANSWER_CHARS]
        question_stems = content_stems(card.question)
        # Sentences that only restate the question add nothing: keep those with new content words.
        units = [s for s in split_sentences(_plain(answer)) if _says_something(s, question_stems)]
        if not units:
            return self._result(points, np.zeros(len(points)), [], set(), hints, 0.0)
        unit_vectors = self.encoder.encode(units + [" ".join(units)])
        cosine = (point_vectors @ unit_vectors.T).max(axis=1)
        whole = float(unit_vectors[-1] @ self.reference_vector(card))
        dense = np.clip((cosine - COS_LOW) / (COS_HIGH - COS_LOW), 0.0, 1.0)
        answer_stems = content_stems(" ".join(units))
        lexical = np.array([len(s & answer_stems) / len(s) if s else 0.0 for s in point_stems])
        coverage = (1 - LEXICAL_WEIGHT) * dense + LEXICAL_WEIGHT * lexical
        text, pair_clashes, written = _resolve_ordered_pairs(card, points, " ".join(units))
        found, contradicted = contradictions(card, points, text)
        found = list(dict.fromkeys(_as_written(c, written) for c in found))
        found += [c for c in dict.fromkeys(pair_clashes + _relation_clashes(card, points, units)) if c not in found]
        negated_found, negated_points = self._negation_flips(card, points, units)
        found += [c for c in negated_found if c not in found]
        return self._result(points, coverage, found, contradicted | negated_points, hints, whole)

    def _negation_flips(self, card, points, units) -> tuple[list[str], set[int]]:
        """An answer clause that says a claim of the card with "not"/"never" added (or dropped)."""
        clauses = [c.strip() for u in units for c in _clauses(u) if len(c.split()) >= 3]
        card_clauses, owners, card_vectors = self.card_clauses(card, points)
        if not clauses or not card_clauses:
            return [], set()
        vectors = self.encoder.encode([_without_negation(c) for c in clauses])
        similarity = card_vectors @ vectors.T
        found, hit = [], set()
        for j, clause in enumerate(clauses):
            i = int(np.argmax(similarity[:, j]))
            if similarity[i, j] >= NEGATION_MATCH and _is_negated(clause) != _is_negated(card_clauses[i]) and _same_negated_word(clause, card_clauses[i]):
                found.append(clause)
                hit.add(owners[i])
        return found, hit

    def card_clauses(self, card, points) -> tuple[list[str], list[int], np.ndarray]:
        """The card's claims cut into clauses (each with its lead term), embedded once per card."""
        def make():
            texts, owners = [], []
            for index, point in enumerate(points):
                if point.kind != "claim":
                    continue
                body = point.plain[len(_plain(point.lead)) + 2 :] if point.lead else point.plain
                for clause in (part for c in _clauses(body) for part in ARROW_RE.split(c)):  # "A → B → C": each link is a claim
                    if len(clause.split()) >= 2:
                        texts.append(f"{_plain(point.lead)}: {clause}" if point.lead else clause)
                        owners.append(index)
            vectors = self.encoder.encode([_without_negation(t) for t in texts]) if texts else np.zeros((0, 1), dtype=np.float32)
            return texts, owners, vectors

        return self._cached(f"clauses:{card.id}:{card.text_hash}", make)

    def reference_vector(self, card) -> np.ndarray:
        return self._cached(f"ref:{card.id}:{card.text_hash}", lambda: self.encoder.encode([card.answer_text or card.question])[0])

    @staticmethod
    def _result(points, coverage, found, contradicted, hints, whole: float) -> Grade:
        coverage = np.asarray(coverage, dtype=float)
        weights = np.array([p.weight for p in points])
        credited = np.where([i in contradicted for i in range(len(points))], 0.0, coverage)
        share = float((weights * credited).sum() / weights.sum()) if len(points) else 0.0
        overall = float(np.clip((whole - COS_LOW) / (COS_HIGH - COS_LOW), 0.0, 1.0))
        blended = (1 - WHOLE_WEIGHT) * min(1.0, share / FULL_MARKS_AT) + WHOLE_WEIGHT * overall
        score = blended ** SCORE_CURVE * (CONTRADICTION_FACTOR ** len(found))
        score = min(100.0 * score, max_score_after_hints(hints))
        covered = [p.text for i, p in enumerate(points) if credited[i] >= COVERED_AT]
        missed = [p.text for i, p in enumerate(points) if credited[i] < COVERED_AT]
        return Grade(int(round(score)), covered, missed, found, [round(float(c), 3) for c in coverage], list(points))


def max_score_after_hints(hints: int) -> int:
    return max(0, 100 - HINT_COST * max(0, hints))


def grade_answer(kb, card, answer: str, hints: int = 0) -> Grade:
    """Grade with the knowledge base's encoder (one Grader per encoder, so the cache is shared)."""
    grader = getattr(kb, "_grader", None)
    if grader is None or grader.encoder is not kb.encoder:
        grader = Grader(kb.encoder)
        kb._grader = grader
    return grader.grade(card, answer, hints=hints)
