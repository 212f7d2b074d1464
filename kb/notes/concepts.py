"""A concept glossary derived from the notes themselves: acronyms, defined terms, bold terms, names.

Nothing here is a list of topics. Concepts come from the shapes people write in:
  * acronyms and mixed-case names (KL, PPO, QR-DQN, InfoNCE, SimCLR);
  * spelled-out forms next to them, either way round: "Generalized Advantage Estimation (GAE)",
    "GAE (Generalized Advantage Estimation)"; the vocabulary packs' glossaries (kb/data/packs/*/synonyms.txt, kb/vocab.py) add
    expansions that the notes never spell out (KL = Kullback-Leibler), checked letter by letter;
  * the subject of a defining question ("What is X?", "Explain X.", "How does X work?");
  * bold terms opening a paragraph or list item ("**Huber**: ...");
  * names: capitalised words that the notes never write in lower case (Huber, Lipschitz).
A concept must be mentioned by at least two cards (otherwise it links nothing) and by at most a
fraction of them (otherwise it is too general to say anything, like "RL" in RL notes).
Each concept gets a home: the card that defines or is about it, when one does.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from kb.notes.cards import Card
from kb.vocab import FUNCTION_WORDS, default_vocabulary

MAX_DF_FRACTION = 0.25  # a concept in more than a quarter of the cards is too general to link by
MIN_DF_CAP = 4  # ... but tiny corpora may still link through a concept shared by a few cards

# Words that open a bold *label* rather than a term ("**Why it matters**:", "**One-liner**:").
LABEL_OPENERS = frozenset(
    """why how what when where which who use used key one interview tip stage step full practical problem
    problems fix fixes note example examples answer summary tl tldr limitation limitations properties
    property variants variant idea intuition trade tradeoff pros cons advantages disadvantages result
    results main bottom common default defaults rule rules in for with without both all first second
    third then also important warning caution""".split()
)
LABEL_TAILS = frozenset("connection connections link links insight tip tips effect matters helps summary takeaway".split())
# Nouns that only say what kind of thing a term is: "the NeuPL loss" defines NeuPL.
GENERIC_HEADS = ("loss", "losses", "pipeline", "objective", "algorithm", "method", "model", "problem", "function", "approach", "technique", "framework", "idea",
                 "trick", "term")
RELATION_OPENERS = ("difference", "differences", "connection", "relation", "relationship", "link", "similarity", "tradeoff", "trade-off", "single", "best",
                    "main", "most", "role", "effect", "pros", "advantages", "benefits", "intuition", "interpretation", "problems", "kind", "other", "right",
                    "usual")

ACRONYM_RE = re.compile(r"(?<![\w$\\-])([A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*)(?![\w-])")
PAREN_ACRONYM_RE = re.compile(r"\(\s*([A-Za-z][\w-]{1,15})\s*\)")
EXPANSION_BEFORE_RE = re.compile(r"(?<![\w-])([A-Za-z][\w-]{1,15})\s*\(\s*((?:[A-Za-z][\w'-]*[\s-]+){1,7}[A-Za-z][\w'-]*)\s*\)")
DEFINE_RE = re.compile(
    r"^(?:can you\s+)?(?:what\s+(?:is|are|was)|what['\u2019]s|whats|define|explain|describe|tell me about|walk me through|"
    r"how\s+(?:does|do|is|are)(?=.*\bworks?\s*[?.]?\s*$)|what\s+(?:does|do)(?=.*\b(?:do|mean|stand for)\s*[?.]?\s*$))\s+(?:the\s+|a\s+|an\s+)?(.+?)\s*$",
    re.IGNORECASE,
)
BOLD_TERM_RE = re.compile(r"^\s*(?:[-*+]\s+|\d{1,3}[.)]\s+)?\*\*([^*\n]{1,60}?)\*\*\s*(?::|\u2014|\u2013|-\s|\(|$)", re.MULTILINE)
MID_SENTENCE_NAME_RE = re.compile(r"(?<=[a-z,;] )([A-Z][a-z]{2,}(?:[ -][A-Z][a-z]{2,}){0,2})(?![\w-])")


@dataclass
class Concept:
    key: str  # stable id: the canonical form, lower-cased
    name: str  # how the notes write it ("PPO", "quantile loss")
    forms: list[str]  # every surface form that counts as a mention
    kind: str  # acronym | defined | bold | name
    home: str | None = None  # card id of the card that defines or is about it
    home_reason: str = ""  # why that card: "defines it", "asks about it", "bold definition"
    mentions: list[str] = field(default_factory=list)  # card ids, corpus order (home included)

    def to_dict(self) -> dict[str, Any]:  # JSON-ready
        return {"key": self.key, "name": self.name, "forms": self.forms, "kind": self.kind, "home": self.home, "home_reason": self.home_reason,
                "mentions": self.mentions}


@dataclass
class Mention:
    concept: str  # concept key
    in_question: bool
    count: int
    position: int  # order of first appearance in the question (0 = first), or 99 if absent


@dataclass
class Glossary:
    concepts: dict[str, Concept]  # key -> concept, sorted by name
    by_card: dict[str, list[Mention]]  # card id -> the concepts it mentions
    n_cards: int

    def find(self, text: str) -> Concept | None:
        """The concept with this key or surface form (case-insensitive)."""
        wanted = _Builder.norm(text)
        for concept in self.concepts.values():
            if wanted == concept.key or any(wanted == _Builder.norm(f) for f in concept.forms):
                return concept
        return None

    def specificity(self, key: str) -> float:
        """1.0 for a concept shared by two cards, falling towards 0 as it gets common (an idf)."""
        df = len(self.concepts[key].mentions)
        top = math.log(max(self.n_cards, 3) / 2)
        return max(0.0, min(1.0, math.log(max(self.n_cards, 3) / df) / top)) if top > 0 else 1.0


# ---- surface shapes -----------------------------------------------------------------------------------


def is_acronym(token: str) -> bool:
    """KL, PPO, QR-DQN, InfoNCE, C51, L2, MAP-Elites: a first part with two capitals, or capital + digits."""
    first = token.split("-")[0]
    if not re.fullmatch(r"[A-Za-z0-9()-]+", token) or len(token) < 2 or len(token) > 16 or first.lower() in FUNCTION_WORDS:
        return False
    capitals = sum(ch.isupper() for ch in first)
    if capitals >= 2:
        return not (first.isupper() and len(first) > 5 and not any(ch.isdigit() for ch in first))  # SHOUTING
    return capitals == 1 and first[0].isupper() and any(ch.isdigit() for ch in first) and len(first) <= 5


def _acronym_core(token: str) -> str:
    """'PPO-style' -> 'PPO'; 'QR-DQN' and 'MAP-Elites' stay whole."""
    parts = token.split("-")
    keep = [parts[0]]
    for part in parts[1:]:
        if part.islower():
            break
        keep.append(part)
    return "-".join(keep)


def is_bold_label(text: str) -> bool:
    """Bold text that labels what follows ("**Why it matters**", "**One-liner**", "**Key insight**")
    rather than naming a term: the one rule for it (the glossary and the voice prompt both use it)."""
    words = re.findall(r"[A-Za-z0-9]+", text)
    return not words or words[0].lower() in LABEL_OPENERS or words[-1].lower() in LABEL_TAILS


def _words(phrase: str) -> list[str]:
    return [w for w in re.split(r"[\s\-]+", phrase) if w]


def initials_match(acronym: str, phrase: str) -> bool:
    """Does the phrase spell the acronym? Each word gives one or more leading letters, in order
    ("Generalized Advantage Estimation" -> GAE, "Kullback-Leibler" -> KL, "Wasserstein GAN" -> WGAN)."""
    letters = re.sub(r"[^a-z0-9]", "", acronym.lower())
    words = [w.lower() for w in _words(phrase)]
    small = ("of", "and", "for", "the", "a", "an", "to", "in", "on", "with")
    if not letters or not words or sum(w not in small for w in words) > len(letters) or words[0] in small:
        return False

    def match(i: int, j: int) -> bool:
        if j == len(words):
            return i == len(letters)
        word = re.sub(r"[^a-z0-9]", "", words[j])
        if word in small and match(i, j + 1):  # "Tree of Thoughts" is ToT, "Mixture of Experts" MoE
            return True
        if not word or i >= len(letters) or word[0] != letters[i]:
            return False
        # This word covers letters[i:k]: each further letter must appear later in the word, in order.
        k, pos = i + 1, 1
        options = [k]
        while k < len(letters):
            found = word.find(letters[k], pos)
            if found < 0:
                break
            k, pos = k + 1, found + 1
            options.append(k)
        return any(match(end, j + 1) for end in reversed(options))

    return match(0, 0)


def defined_subject(question: str) -> list[str]:
    """The term(s) a question asks to define: "What is distributional RL and why..." -> ["distributional RL"]."""
    first = re.split(r"(?<=[?.!])\s+", question.strip())[0]
    m = DEFINE_RE.match(first)
    if not m:
        return []
    subject = m.group(1).rstrip("?.! ")
    subject = re.sub(r"\s+(?:works?|mean|means|do|does|stand for)$", "", subject, flags=re.IGNORECASE)
    inside = re.findall(r"\(([^()]{2,60})\)", subject)
    subject = re.sub(r"\s*\([^()]*\)", "", subject)
    subject = re.split(r"\s+(?:and|in|vs\.?|versus|when|why|how|for|—|–|-)\s+|[,:;\u2014\u2013]\s*", subject, maxsplit=1)[0]
    subject = re.sub(r"^(?:the|a|an)\s+", "", subject.strip().strip("\"'\u201c\u201d"), flags=re.IGNORECASE)
    out = []
    for term in [subject, *inside]:
        term = term.strip().strip("\"'\u201c\u201d")
        words = _words(term)
        if not words or len(words) > 5 or words[0].lower() in RELATION_OPENERS or words[0].lower() in FUNCTION_WORDS:
            continue
        out.append(term)
    return out


def _strip_generic_head(term: str) -> str:
    words = term.split()
    if len(words) >= 2 and words[-1].lower() in GENERIC_HEADS and is_acronym(_acronym_core(words[-2])) and len(words) == 2:
        return _acronym_core(words[0])
    return term


def _form_pattern(form: str) -> re.Pattern[str]:
    """Acronyms match case-sensitively; phrases case-insensitively, with '-' or ' ' between words and a plural."""
    if is_acronym(form):
        return re.compile(r"(?<![A-Za-z0-9])" + re.escape(form) + r"(?:s|es)?(?![A-Za-z0-9])")
    words = [re.escape(w) for w in _words(form)]
    body = r"[\s\-]+".join(words)
    return re.compile(r"(?<![\w])" + body + r"(?:s|es)?(?![\w])", re.IGNORECASE)


# ---- building the glossary ----------------------------------------------------------------------------


class _Builder:
    def __init__(self) -> None:
        self.forms: dict[str, set[str]] = {}  # key -> surface forms
        self.names: dict[str, str] = {}
        self.kinds: dict[str, str] = {}
        self.alias_of: dict[str, str] = {}  # lower-cased form -> key

    @staticmethod
    def norm(form: str) -> str:
        """Forms differing only in case, hyphens or spacing are one ("Chain-of-Thought", "chain of thought")."""
        return re.sub(r"[\s\-]+", " ", form.casefold()).strip()

    def key_for(self, form: str) -> str | None:
        return self.alias_of.get(self.norm(form))

    def add(self, form: str, kind: str) -> str:
        key = self.key_for(form)
        if key is None:
            key = self.norm(form)
            self.forms[key] = set()
            self.names[key] = form
            self.kinds[key] = kind
        self.attach(key, form)
        return key

    def attach(self, key: str, form: str) -> None:
        other = self.alias_of.get(self.norm(form))
        if other is not None and other != key:
            self.merge(other, into=key)
        self.forms[key].add(form)
        self.alias_of[self.norm(form)] = key

    def merge(self, key: str, into: str) -> None:
        for form in self.forms.pop(key, set()):
            self.forms[into].add(form)
            self.alias_of[self.norm(form)] = into
        self.names.pop(key, None)
        self.kinds.pop(key, None)


def build_glossary(cards: list[Card], synonyms: list[tuple[str, ...]] | None = None) -> Glossary:
    """Concepts, their homes and which cards mention them. Pure: cards in, glossary out."""
    texts = {c.id: f"{c.question}\n{c.answer_text}" for c in cards}
    corpus_text = "\n".join(texts.values())
    lower_words = set(re.findall(r"(?<![A-Za-z])[a-z][a-z-]+", corpus_text))
    b = _Builder()
    _add_acronyms(b, cards, texts)
    defines, bolds = _add_defined_and_bold_terms(b, cards, lower_words)
    _add_names(b, corpus_text, lower_words)
    _attach_spelled_out_forms(b, texts)
    groups = default_vocabulary().synonyms_as_written if synonyms is None else synonyms
    if groups:
        _attach_glossary_synonyms(b, groups)
    _merge_acronym_plurals(b)
    mentions, per_card = _find_mentions(b, cards, texts)
    cap = max(MIN_DF_CAP, int(MAX_DF_FRACTION * len(cards)))
    kept = {key for key, ids in mentions.items() if 2 <= len(ids) <= cap}
    topics_in_question = _rank_question_topics(per_card, kept)

    by_id = {c.id: c for c in cards}
    concepts: dict[str, Concept] = {}
    for key in kept:
        concept = Concept(key, b.names[key], sorted(b.forms[key], key=lambda f: (-len(f), f)), b.kinds[key], mentions=mentions[key])
        concept.home, concept.home_reason = _choose_home(concept, by_id, per_card, topics_in_question, defines, bolds, b)
        concepts[key] = concept
    ordered = dict(sorted(concepts.items(), key=lambda kv: kv[1].name.casefold()))
    return Glossary(ordered, per_card, len(cards))


def _add_acronyms(b: _Builder, cards: list[Card], texts: dict[str, str]) -> None:
    """Every acronym or mixed-case name written in a card (KL, PPO, QR-DQN, InfoNCE)."""
    for card in cards:
        for token in ACRONYM_RE.findall(texts[card.id]):
            core = _acronym_core(token)
            if is_acronym(core):
                b.add(core, "acronym")


def _add_defined_and_bold_terms(b: _Builder, cards: list[Card], lower_words: set[str]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Terms a question asks to define and bold terms opening an answer's paragraphs, card by card.

    Returns (card id -> defined terms, card id -> bold terms), which later tell a concept's home."""
    defines: dict[str, list[str]] = {}  # card id -> defined terms
    bolds: dict[str, list[str]] = {}  # card id -> bold terms opening a paragraph
    for card in cards:
        for term in defined_subject(card.question):
            term = _strip_generic_head(term)
            defines.setdefault(card.id, []).append(term)
            b.add(term, "acronym" if is_acronym(term) else "defined")
        for term in _bold_terms(card.answer_md, lower_words):
            bolds.setdefault(card.id, []).append(term)
            b.add(_acronym_core(term) if is_acronym(term) else term, "acronym" if is_acronym(term) else "bold")
    return defines, bolds


def _bold_terms(answer_md: str, lower_words: set[str]) -> list[str]:
    """Bold terms opening a paragraph or list item ("**Huber**: ..."); none when most bold openers are labels."""
    terms, labels = [], 0
    for raw in BOLD_TERM_RE.findall(answer_md):
        term = raw.strip().rstrip(":").strip()
        words = _words(term)
        if not words or len(words) > 4 or "$" in term or re.search(r"[.?!=\\{}]", term) or is_bold_label(term):
            labels += 1
        elif len(words) == 1 and not is_acronym(term) and (term.lower() in lower_words or not term[0].isupper()):
            labels += 1  # a single ordinary word ("Variance") is emphasis, not a term
        else:
            terms.append(term)
    if labels > len(terms):
        return []  # mostly labels ("**Regression**: ...", "**Classification**: ..."): a list of headings, not definitions
    return terms


def _add_names(b: _Builder, corpus_text: str, lower_words: set[str]) -> None:
    """Capitalised names mid-sentence that the notes never write in lower case (Huber, Lipschitz)."""
    names = set(MID_SENTENCE_NAME_RE.findall(corpus_text))
    names = {n for n in names if not any(other != n and other.endswith(" " + n) for other in names)}
    for name in sorted(names):
        if not any(w.lower() in lower_words or w.lower() in FUNCTION_WORDS for w in name.replace("-", " ").split()):
            b.add(name, "name")


def _attach_spelled_out_forms(b: _Builder, texts: dict[str, str]) -> None:
    """Spelled-out forms written next to their acronym, either way round."""
    for text in texts.values():
        for m in PAREN_ACRONYM_RE.finditer(text):
            # "... Generalized Advantage Estimation (GAE)": the words since the last punctuation.
            before = re.split(r"[.;:!?,()\[\]\n]", text[max(0, m.start() - 160) : m.start()])[-1]
            words = re.findall(r"[A-Za-z][\w'-]*", before)[-8:]
            if words:
                _attach_expansion(b, m.group(1), " ".join(words))
        for short, long in EXPANSION_BEFORE_RE.findall(text):
            _attach_expansion(b, short, long)


def _attach_glossary_synonyms(b: _Builder, groups: list[tuple[str, ...]]) -> None:
    """The general glossary: expansions the notes never spell out, and close variants of terms."""
    for group in groups:
        for key in sorted({found for p in group if (found := b.key_for(p)) is not None}):
            if key not in b.forms:
                continue  # merged into another concept earlier in this loop
            for phrase in group:
                other = b.key_for(phrase)
                if other == key:
                    continue
                # A phrase the notes use as a concept of its own joins too, unless it is another acronym.
                if _synonym_fits(b, key, phrase) and (other is None or b.kinds.get(other) != "acronym"):
                    b.attach(key, phrase)


def _synonym_fits(b: _Builder, key: str, phrase: str) -> bool:
    """Does a glossary phrase name this concept: it spells one of its acronyms, or shares a word with a form?"""
    if b.kinds[key] == "acronym":
        return any(is_acronym(f) and initials_match(f, phrase) for f in b.forms[key])
    return len(_words(phrase)) >= 2 and bool(set(w.lower() for w in _words(phrase)) & {w.lower() for f in b.forms[key] for w in _words(f)})


def _merge_acronym_plurals(b: _Builder) -> None:
    """Plurals of acronyms are the same concept (CNNs, LLMs)."""
    for key in list(b.forms):
        singular = key[:-1] if key.endswith("s") and b.kinds.get(key) == "acronym" else None
        if singular and singular in b.forms and singular != key:
            b.merge(key, into=singular)


def _find_mentions(b: _Builder, cards: list[Card], texts: dict[str, str]) -> tuple[dict[str, list[str]], dict[str, list[Mention]]]:
    """Which cards mention each concept, and each card's mentions (where in the question, how often)."""
    patterns = {key: [_form_pattern(f) for f in sorted(forms, key=len, reverse=True)] for key, forms in b.forms.items()}
    mentions: dict[str, list[str]] = {key: [] for key in b.forms}
    per_card: dict[str, list[Mention]] = {c.id: [] for c in cards}
    by_first_word = _concepts_by_first_word(b)
    for card in cards:
        tokens = set(re.findall(r"[a-z0-9]+", texts[card.id].lower()))
        tokens |= {t[:-1] for t in tokens if t.endswith("s")} | {t[:-2] for t in tokens if t.endswith("es")}
        keys = set().union(*(by_first_word.get(t, set()) for t in tokens))
        for key in sorted(keys):
            pats = patterns[key]
            q_pos = min((m.start() for p in pats for m in p.finditer(card.question)), default=None)
            count = sum(len(p.findall(texts[card.id])) for p in pats)
            if count:
                mentions[key].append(card.id)
                per_card[card.id].append(Mention(key, q_pos is not None, count, q_pos if q_pos is not None else 10_000))
    return mentions, per_card


def _concepts_by_first_word(b: _Builder) -> dict[str, set[str]]:
    """First word of each form -> concept keys: a concept is only tried on a card containing that word
    (a cheap filter before the regexes)."""
    by_first_word: dict[str, set[str]] = {}
    for key, forms in b.forms.items():
        for form in forms:
            words = re.findall(r"[a-z0-9]+", form.lower())
            if words:
                by_first_word.setdefault(words[0], set()).add(key)
    return by_first_word


def _rank_question_topics(per_card: dict[str, list[Mention]], kept: set[str]) -> dict[str, int]:
    """Rank each card's question mentions by position, then drop mentions of concepts not kept.

    Returns card id -> how many concepts its question names. Topics in a question are counted
    before the too-general ones are dropped: in "How does cross-entropy connect supervised
    learning to RL?" cross-entropy shares the question with RL."""
    topics_in_question: dict[str, int] = {}
    for card_id, items in per_card.items():
        ranked = sorted((m for m in items if m.in_question), key=lambda m: m.position)
        topics_in_question[card_id] = len(ranked)
        for rank, m in enumerate(ranked):
            m.position = rank
        for m in items:
            if not m.in_question:
                m.position = 99
        items[:] = [m for m in items if m.concept in kept]
    return topics_in_question


def _attach_expansion(b: _Builder, short: str, long: str) -> None:
    short = _acronym_core(short)
    if not is_acronym(short):
        return
    words = _words(long)
    # The expansion is the longest run of words just before the parenthesis that spells the acronym.
    for n in range(min(len(words), 8), 0, -1):
        tail = " ".join(words[-n:])
        if initials_match(short, tail):
            key = b.key_for(short) or b.add(short, "acronym")
            b.attach(key, tail)  # a long form defined on its own ("What is a Convolutional Neural Network") joins it
            return


def _choose_home(concept: Concept, by_id: dict[str, Card], per_card: dict[str, list[Mention]], topics_in_question: dict[str, int],
                 defines: dict[str, list[str]], bolds: dict[str, list[str]], b: _Builder) -> tuple[str | None, str]:
    """The card that defines the concept or is about it; None when every card only uses it in passing."""
    best, best_score, best_reason = None, 0.0, ""
    for card_id in concept.mentions:
        card = by_id[card_id]
        mention = next(m for m in per_card[card_id] if m.concept == concept.key)
        score, reason = 0.0, ""
        if any(b.key_for(term) == concept.key for term in defines.get(card_id, [])):
            score, reason = 4.0, "defines it"
        if mention.in_question:
            # A question about one thing is about it; a comparison of four is about each a quarter.
            score += 3.0 / max(1, topics_in_question[card_id]) + (1.0 if mention.position == 0 else 0.0)
            reason = reason or "asks about it"
        if any(b.key_for(_acronym_core(t) if is_acronym(t) else t) == concept.key for t in bolds.get(card_id, [])):
            score += 1.5
            reason = reason or "bold definition"
        if score == 0:
            continue
        score += 0.3 * math.log1p(mention.count)
        if card.kind == "quickfire":
            score -= 0.5  # a quick-fire line summarises; the full card explains
        if score > best_score:
            best, best_score, best_reason = card_id, score, reason
    return (best, best_reason) if best_score >= 1.5 else (None, "")
