"""A synthetic corpus of any size, recombined from the shipped note and the external notes.

Each synthetic card takes its question from one real card and its answer from another, plus a few
words drawn from the real answers, so texts have real vocabulary and realistic lengths, and every
card is unique. Written to a tmp folder by the scale benchmark and the fault tests; never committed.

    python benchmarks/synthetic_corpus.py OUT_DIR --cards 10000
"""
from __future__ import annotations

import argparse
import random
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [
    ROOT / "corpus" / "losses-in-deep-learning.md",
    ROOT.parent / "shared" / "external-corpora" / "alexeygrigorev__data-science-interviews__theory.md",
    ROOT.parent / "shared" / "external-corpora" / "SalvatoreRa__tutorial__FAQ.md",
]
CARDS_PER_NOTE = 50
CARDS_PER_FAMILY = 10
MAX_ANSWER_WORDS = 80  # keeps the embedding cost per card close to the shipped note's


def source_cards() -> list[tuple[str, str]]:
    """(question, plain answer) pairs from every source note that exists here."""
    from kb.notes.corpus import parse_note

    pairs = []
    for path in SOURCES:
        if not path.exists():
            continue
        for card in parse_note(path.read_text(encoding="utf-8"), path.name).cards:
            answer = " ".join(card.answer_text.split())
            if answer:
                pairs.append((card.question.rstrip("?").strip(), answer))
    if not pairs:
        raise SystemExit("no source notes found to recombine")
    return pairs


def _safe(text: str) -> str:
    """Plain one-line text that cannot start a heading, a list, html or a question marker."""
    text = re.sub(r"[#<>*_`|\[\]$\\]", " ", text)
    return " ".join(text.split())


def write_corpus(out: Path, cards: int, seed: int = 0, answer_words: int = MAX_ANSWER_WORDS) -> list[Path]:
    """Write `cards` unique cards as notes of CARDS_PER_NOTE cards each; returns the note paths.

    Short answers (answer_words=12) make cheap corpora for plumbing tests.
    """
    rng = random.Random(seed)
    pairs = source_cards()
    vocabulary = sorted({w for _, a in pairs for w in re.findall(r"[A-Za-z]{4,}", a)})
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for note_no in range(0, (cards + CARDS_PER_NOTE - 1) // CARDS_PER_NOTE):
        lines = [f"# Synthetic note {note_no}", ""]
        first = note_no * CARDS_PER_NOTE
        for i in range(first, min(cards, first + CARDS_PER_NOTE)):
            if (i - first) % CARDS_PER_FAMILY == 0:
                lines += [f"## Family {note_no}-{(i - first) // CARDS_PER_FAMILY}", ""]
            question, _ = pairs[rng.randrange(len(pairs))]
            _, answer = pairs[rng.randrange(len(pairs))]
            extra = " ".join(rng.choice(vocabulary) for _ in range(6))
            words = _safe(answer).split()[:answer_words]
            lines += [f"### Q: Case {i}: {_safe(question)} ({extra})?", "", " ".join(words) + f" Also: {extra}.", ""]
        path = out / f"note-{note_no:05d}.md"
        path.write_text("\n".join(lines), encoding="utf-8")
        paths.append(path)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--cards", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    paths = write_corpus(args.out, args.cards, args.seed)
    print(f"wrote {args.cards} cards in {len(paths)} notes to {args.out}")


if __name__ == "__main__":
    main()
