"""Vocabulary: stop words, stemming, negations, tokenising, and the vocabulary files in use.

Three sources of vocabulary files, all in one syntax (one group per line, alternatives separated
by '|', '#' starts a comment anywhere on a line):
  - general English, always on: kb/data/english/ (opposites such as more|less, faster|slower);
  - named domain packs, chosen with KB_VOCAB / --vocab (default `ml`; `none` turns them all off):
    kb/data/packs/<name>/synonyms.txt and antonyms.txt;
  - the user's own lists in the corpus folder, always read: <corpus>/.kb/synonyms.txt, antonyms.txt.
Everything else here (stop words, negations, the stemmer) is general English.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from kb.config import setting
from kb.errors import ConfigError

DATA_DIR = Path(__file__).parent / "data"
ENGLISH_DIR = DATA_DIR / "english"
PACKS_DIR = DATA_DIR / "packs"
USER_VOCAB_DIR = ".kb"  # inside the corpus folder
SYNONYMS, ANTONYMS = "synonyms.txt", "antonyms.txt"
DEFAULT_PACKS = ("ml",)

# Words a search or grading match must not rest on (also: question words and "explain", "tell").
STOPWORDS = frozenset(
    """a an and are as at be but by can do does for from how i if in into is it its me of on or so
    than that the their then there these this to use used using was what when where which while who
    why will with would you your whats s t vs about explain tell describe""".split()
)
# English function words for term extraction; an all-caps one ("ALL", "IS") is emphasis, not an acronym.
FUNCTION_WORDS = frozenset(
    """a an and are as at be but by can do does for from has have how i if in into is it its me my no not
    of on or so than that the their then there these this to vs was we what when where which while who why
    will with would you your yes all any one two ok ie eg etc use used note see also only just very must
    each both more most less few many none new old same other same such""".split()
)
# What a chat message says around its topic: a follow-up with no other words leans on the last turn.
CONVERSATION_WORDS = frozenset(
    """a about an and are as at be been but by can could do does did for from get got has have how i if in into is it
    its it's me more my of on or so such than that the their them then there these they this those to too
    us versus vs was we what when where which who why will with would you your explain tell compare compared
    different difference differ between again also else same way mean means work works""".split()
)
# Query words not worth highlighting in a result.
HIGHLIGHT_SKIP = frozenset(
    "a an and are as at be by do does for from how i in is it its of on or the to vs what when where which who why with you your".split()
)
NEGATIONS = frozenset("not no never without nor neither nothing none cannot cant dont doesnt isnt arent wont didnt wasnt hardly".split())

WORD_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-'][A-Za-z0-9]+)*|\d+(?:\.\d+)?")
NAME_RE = re.compile(r"\b[A-Za-z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*\b")  # a word, hyphenated compounds whole
ACRONYM_PLURAL_RE = re.compile(r"\b([A-Z][A-Z0-9]+)s\b")  # "GANs", "SVMs", "LLMs": the stemmer keeps the s


class Stemmer(Protocol):
    """What kb uses of PyStemmer's Stemmer (the package ships no types)."""

    def stemWord(self, word: str) -> str: ...

    def stemWords(self, words: list[str]) -> list[str]: ...


@functools.lru_cache(maxsize=1)
def stemmer() -> Stemmer:
    """The one English Snowball stemmer (PyStemmer), shared by search, links and grading."""
    import Stemmer as pystemmer

    english: Stemmer = pystemmer.Stemmer("english")
    return english


def lower(text: str) -> str:
    """Lower-case, after turning acronym plurals into the acronym ("SVMs" -> "svm")."""
    return ACRONYM_PLURAL_RE.sub(r"\1", text).lower()


def words(text: str) -> list[str]:
    """Lower-cased words; hyphenated compounds also give their parts ("kullback-leibler")."""
    out = []
    for match in WORD_RE.finditer(lower(text)):
        word = match.group(0).replace("'", "")
        out.append(word)
        if "-" in word:
            out.extend(part for part in word.split("-") if part)
    return out


def named_terms(text: str) -> list[str]:
    """The words a text writes as names: acronyms ("DBSCAN", "TF-IDF"), mixed case ("InfoNCE",
    "word2vec"), and capitalised words inside a sentence ("Adam", "Huber"). Plain English words
    are written in lower case, so these are what a question is usually about."""
    out = []
    for match in NAME_RE.finditer(text or ""):
        word = match.group(0)
        before = text[: match.start()].rstrip()
        capitals = sum(ch.isupper() for ch in word)
        inside_sentence = bool(before) and before[-1] not in ".!?:;\"'(\u201c*#-"
        if capitals >= 2 or any(ch.isdigit() for ch in word[1:]) or (word[0].isupper() and inside_sentence):
            if word.lower() not in STOPWORDS:
                out.append(word)
    return list(dict.fromkeys(out))


def plain_words(text: str) -> list[str]:
    """Lower-cased words in order, compounds split into their parts: the sequence phrases are matched on."""
    return [part for match in WORD_RE.finditer(lower(text)) for part in match.group(0).replace("'", "").split("-") if part]


def is_content_word(word: str, *also: Collection[str], min_length: int = 1, digits: bool = True) -> bool:
    """A word that carries content: not a stop word nor in any of `also` (generic words, negations, a
    lexicon), at least `min_length` characters long, and a bare number only where `digits` allows."""
    if len(word) < min_length or word in STOPWORDS or (not digits and word.isdigit()):
        return False
    return not any(word in excluded for excluded in also)


def stem_all(tokens: list[str]) -> list[str]:
    return stemmer().stemWords([t for t in tokens if t not in STOPWORDS])


def read_groups(path: Path) -> list[tuple[str, ...]]:
    """A vocabulary file as groups of alternatives, case kept; a missing or unreadable file gives none."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    groups = []
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            groups.append(tuple(part.strip() for part in line.split("|") if part.strip()))
    return groups


def available_packs() -> list[str]:
    return sorted(p.name for p in PACKS_DIR.iterdir() if p.is_dir()) if PACKS_DIR.is_dir() else []


def parse_packs(value: str | None) -> tuple[str, ...]:
    """KB_VOCAB / --vocab: a comma-separated list of packs, or `none`; unset means the default (ml)."""
    if value is None or not value.strip():
        return DEFAULT_PACKS
    names = [name.strip().lower() for name in value.split(",") if name.strip()]
    if names == ["none"]:
        return ()
    known = available_packs()
    unknown = [name for name in names if name not in known]
    if unknown or "none" in names:
        raise ConfigError(f"unknown vocabulary pack {', '.join(unknown or ['none (alone only)'])!r}; choose from {', '.join(known)}, or none")
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class Vocabulary:
    """The vocabulary files in use: general English, the chosen packs, and the user's own lists."""

    packs: tuple[str, ...] = DEFAULT_PACKS
    user_folder: Path | None = None  # <corpus>/.kb

    @classmethod
    def for_corpus(cls, corpus: Path | None, packs: str | tuple[str, ...] | None = None) -> Vocabulary:
        chosen = parse_packs(packs) if not isinstance(packs, tuple) else packs
        return cls(chosen, Path(corpus) / USER_VOCAB_DIR if corpus is not None else None)

    def _files(self, name: str, english: bool) -> list[Path]:
        files = [ENGLISH_DIR / name] if english else []
        files += [PACKS_DIR / pack / name for pack in self.packs]
        if self.user_folder is not None:
            files.append(self.user_folder / name)
        return [f for f in files if f.is_file()]

    @property
    def files(self) -> list[Path]:
        return self._files(SYNONYMS, english=False) + self._files(ANTONYMS, english=True)

    @functools.cached_property
    def synonyms_as_written(self) -> list[tuple[str, ...]]:
        """Phrases that mean the same thing, one group per line, case kept (for display)."""
        return [group for f in self._files(SYNONYMS, english=False) for group in read_groups(f)]

    @functools.cached_property
    def synonym_groups(self) -> list[tuple[str, ...]]:
        """The same groups, lower-cased: what search and grading match on."""
        return [tuple(phrase.lower() for phrase in group) for group in self.synonyms_as_written]

    @functools.cached_property
    def antonym_axes(self) -> list[tuple[tuple[str, ...], ...]]:
        """Contrasting attributes: one axis per line, its poles, each pole's words (lower-cased)."""
        return [tuple(tuple(word.lower() for word in pole.split()) for pole in group) for f in self._files(ANTONYMS, english=True) for group in read_groups(f)]

    @functools.cached_property
    def signature(self) -> str:
        """What an index built with this vocabulary depends on: the packs and every file's content."""
        digest = hashlib.sha256(",".join(self.packs).encode())
        for f in self.files:
            digest.update(f.name.encode() + b"\0" + f.read_bytes())
        return digest.hexdigest()

    def file_names(self) -> list[str]:
        """The files in use, named the same on every machine: english/…, packs/<name>/…, .kb/…."""
        names = []
        for f in self.files:
            if self.user_folder is not None and f.parent == self.user_folder:
                names.append(f"{USER_VOCAB_DIR}/{f.name}")
            else:
                names.append(f.relative_to(DATA_DIR).as_posix())
        return names

    def describe(self) -> str:
        packs = ", ".join(self.packs) or "none"
        user = [f.name for f in self.files if self.user_folder is not None and f.parent == self.user_folder]
        return f"vocabulary packs: {packs}" + (f"; your lists: {', '.join(user)}" if user else "")


@functools.lru_cache(maxsize=1)
def default_vocabulary() -> Vocabulary:
    """The packs KB_VOCAB names (default ml), without a corpus's own lists: for code that has no knowledge base."""
    return Vocabulary(parse_packs(setting("KB_VOCAB")))


# The vocabulary of the knowledge base whose work is running: a grader set up for one corpus and one
# KB_VOCAB reads its lists, not the process default. A context variable keeps threads apart.
_ACTIVE: contextvars.ContextVar[Vocabulary | None] = contextvars.ContextVar("kb_vocabulary", default=None)


@contextlib.contextmanager
def using(vocabulary: Vocabulary | None) -> Iterator[None]:
    """Within the block, synonym_groups() and antonym_axes() read `vocabulary` (None: the default)."""
    token = _ACTIVE.set(vocabulary)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def current_vocabulary() -> Vocabulary:
    return _ACTIVE.get() or default_vocabulary()


def synonym_groups() -> list[tuple[str, ...]]:
    return current_vocabulary().synonym_groups


def antonym_axes() -> list[tuple[tuple[str, ...], ...]]:
    return current_vocabulary().antonym_axes
