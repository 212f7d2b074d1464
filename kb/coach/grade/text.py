"""Text normalisation for grading: markdown and LaTeX to plain words, synonym folding, tokens, stems,
sentences and clauses. Every other grading module reads text through these functions."""
from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator

from kb.notes.markdown import WIKI_LINK_RE, wiki_link_text
from kb.vocab import Vocabulary, current_vocabulary, is_content_word, stemmer

# Words too common in ML answers to show what a sentence is about (on top of the stop words).
GENERIC = frozenset(
    """loss losses model models use uses used using get gets make makes one two also just like way thing things
    it its they them is are be been being has have had do does done can could should would may might must
    very much many more most less least some all each every any other same different per via""".split()
)
CLAUSE_SPLIT_RE = re.compile(
    r"\s*(?:;|:\s|\u2014|\u2013| -- |\bbut\b|\bwhile\b|\bwhereas\b|\bunlike\b|\balthough\b|\bhowever\b|\bversus\b|, and\b|\bwhich\b)\s*", re.I
)
SENTENCE_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9$*(\[\"'])")
ABBREVIATIONS = ("e.g.", "i.e.", "vs.", "etc.", "cf.", "approx.")
TOKEN_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def stem(word: str) -> str:
    """The word's Snowball stem, British spellings first turned American."""
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


def plain_text(markdown: str) -> str:
    """Inline markdown -> text: emphasis and links dropped, inline formulas spelt as words."""
    text = WIKI_LINK_RE.sub(wiki_link_text, markdown)
    text = re.sub(r"\$([^$]+)\$", lambda m: latex_to_words(m.group(1)), text)
    text = re.sub(r"\*\*|__|`", "", text)
    text = re.sub(r"(?<![A-Za-z0-9])[*_](?=\S)|(?<=\S)[*_](?![A-Za-z0-9])", "", text)
    text = re.sub(r"<[^>]{0,200}>", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def split_sentences(text: str) -> list[str]:
    """Sentences, not cut after "e.g.", "vs." and the like."""
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


def split_clauses(text: str) -> list[str]:
    """Clauses: sentences cut at ";", ":", dashes and contrast words ("but", "while", "whereas", ...)."""
    sentences: list[str] = []
    for sentence in split_sentences(text):  # "Smooth." still speaks about the sentence before it
        if sentences and len(sentence.split()) < 4:
            sentences[-1] = f"{sentences[-1]} {sentence}"
        else:
            sentences.append(sentence)
    out: list[str] = []
    for sentence in sentences:
        out.extend(c for c in CLAUSE_SPLIT_RE.split(sentence) if c and c.strip())
    return out


@functools.lru_cache(maxsize=8)
def _synonym_patterns(vocabulary: Vocabulary) -> list[tuple[re.Pattern[str], str]]:
    """Glossary phrases -> their group's acronym ("mean absolute error" -> "mae"), longest phrases first."""
    pairs = []
    for group in vocabulary.synonym_groups:
        canonical = re.sub(r"[^a-z0-9]+", "", group[0])
        if " " in group[0] or len(canonical) > 6:  # fold names onto acronyms only, never "high variance" -> "overfitting"
            continue
        for phrase in group:
            words = TOKEN_RE.findall(phrase.lower())
            if words:
                pairs.append((words, canonical))
    pairs.sort(key=lambda p: -len(" ".join(p[0])))
    return [(re.compile(r"\b" + r"[\s-]+".join(map(re.escape, words)) + r"\b"), canonical) for words, canonical in pairs]


def canonical_text(text: str) -> str:
    """Lower-case text with the vocabulary's synonyms folded to one form (\"mean absolute error\" -> \"mae\")."""
    return _canonical_text(text, current_vocabulary())


@functools.lru_cache(maxsize=8192)  # the same clauses and words are tokenised by several checks
def _canonical_text(text: str, vocabulary: Vocabulary) -> str:
    text = text.lower()
    for pattern, canonical in _synonym_patterns(vocabulary):
        text = pattern.sub(canonical, text)
    return text


def tokens(text: str) -> list[str]:
    """Lower-case tokens after synonym folding; hyphenated compounds kept whole (on-policy)."""
    return list(_tokens(text, current_vocabulary()))


@functools.lru_cache(maxsize=8192)
def _tokens(text: str, vocabulary: Vocabulary) -> tuple[str, ...]:
    return tuple(TOKEN_RE.findall(_canonical_text(text, vocabulary).replace("'", "")))


def content_stems(text: str) -> set[str]:
    """Stems of the words that carry content (no stop words or generic words); compounds also give their parts."""
    out = set()
    for tok in tokens(text):
        for part in [tok, *tok.split("-")] if "-" in tok else [tok]:
            if is_content_word(part, GENERIC, min_length=2):
                out.add(stem(part))
    return out


# Ways of saying "I don't know" (general English): a sentence that is only this says nothing.
NON_ANSWER_RE = re.compile(
    r"\b(?:i\s+)?(?:do\s*n[o']?t|do not|dont)\s+(?:really\s+)?(?:know|remember|recall)\b|\bno\s+(?:idea|clue)\b|\bnot\s+sure\b|"
    r"\bi\s+(?:forgot|forget|have\s+forgotten)\b|\bcan\s*['no]?t\s+(?:remember|recall|say)\b|\bidk\b|^\s*(?:pass|skip)\s*[.!]?\s*$|"
    r"\bno\s+answer\b|\bi\s+give\s+up\b|\bsorry\b|\bhmm+\b|\bum+\b|\buh+\b", re.I)


def without_non_answers(sentence: str) -> str:
    """The sentence with its "I don't know"s taken out ("I'm not sure, maybe X" keeps "maybe X")."""
    if not NON_ANSWER_RE.search(sentence):
        return sentence
    rest = re.sub(r"\s+", " ", NON_ANSWER_RE.sub(" ", sentence)).strip(" ,;:-")
    return "" if not rest.strip(" .!?") else rest


def words_after_negation(words: list[str], is_cue: Callable[[str], bool], window: int) -> Iterator[list[str]]:
    """For each negation cue in `words` ("no", "never", "without", ...: whatever `is_cue` accepts), the
    up to `window` words after it: what it denies ("never vanish" -> ["vanish", ...]). The one way the
    grader reads the word a negation takes; each caller filters the words for what it needs."""
    for pos, word in enumerate(words):
        if is_cue(word):
            yield words[pos + 1 : pos + 1 + window]
