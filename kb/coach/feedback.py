"""Grade feedback as markdown: what the answer covered (with the words that said it), what it
missed, what it got backwards (beside the card's sentence), and the interviewer's next line, which
follows the grade. Shared by the interview (web and terminal) and `kb grade`."""
from __future__ import annotations

from kb.coach.grade import Grade

KIND_NAMES = {
    "opposite_attribute": "the opposite attribute",
    "reversed_comparison": "the comparison reversed",
    "definition_swap": "two definitions swapped",
    "role_swap": "roles swapped",
    "swapped_order": "the order swapped",
    "wrong_number": "a different number",
    "negation": "negated",
    "dismissed": "dismissed",
    "misconception": "a known mistake",
}
GOOD_FROM = 72  # the score from which the interviewer builds on the answer (FSRS "good")
PARTIAL_FROM = 50


def feedback_blocks(grade: Grade) -> list[str]:
    """The feedback as markdown blocks, most important first."""
    blocks = []
    if grade.said_nothing:
        blocks.append("**Nothing to grade yet:** say what you remember, even a part of it; a partial answer earns partial marks.")
    like = grade.like
    if like is not None and like.label == "wrong":
        blocks.append(f"**Like your answer of {_day(like.marked_at)}, which you marked wrong:** «{_short(like.answer, 240)}»")
    elif like is not None:
        blocks.append(f"**Close to your answer of {_day(like.marked_at)}** that you marked "
                      f"{'right' if like.label == 'right' else 'as saying these points'}: it earns the same points.")
    if not grade.confident:
        blocks.append("**I can't tell how good this is:** compare your answer with the card's answer and rate it yourself; the suggested rating is a guess.")
    if grade.fits_card is not None:
        blocks.append(f"**This answers a different question:** “{grade.fits_card.question}” (`{grade.fits_card.id}`).")
    for clash in grade.contradictions:
        if clash.kind == "misconception":
            blocks.append(f"**A known mistake your notes list:** you said “{clash.answer_span}”; the notes warn: {clash.card_sentence}")
            continue
        kind = KIND_NAMES.get(clash.kind, clash.kind.replace("_", " "))
        blocks.append(f"**Says the opposite of the notes** ({kind}): you said “{clash.answer_span}”; the notes say: {clash.card_sentence}")
    for clause in grade.doubted:  # not a contradiction, but it cost marks: say which words
        blocks.append(f"**Worth checking against the notes:** “{clause}” may attach a term or attribute to the wrong thing.")
    if grade.covered:
        blocks.append("**Covered:**\n" + "\n".join(f"- ✓ {c.point}\n  *you said:* “{c.span}”" for c in grade.covered))
    if grade.missed:
        blocks.append("**Missed:**\n" + "\n".join(f"- ✗ {p}" for p in grade.missed))
    return blocks


def next_line(grade: Grade | None, follow_up: bool) -> str:
    """What the interviewer says before the next question, after this grade."""
    if grade is None:
        return ""
    then = "How does that connect to this: " if follow_up else "Next question. "
    if grade.score >= GOOD_FROM and not grade.contradictions:
        return "Good. Let's build on that. " + then
    if grade.fits_card is not None:
        return f"That answer fits a different question ({grade.fits_card.question}). Let's go on. " + then
    if grade.contradictions:
        return "Careful: part of that says the opposite of the notes (see above). " + then
    if grade.said_nothing:
        return "No problem, the model answer is above; read it before moving on. " + then
    gap = _short(grade.missed[0]) if grade.missed else ""
    start = "Fair, partly there." if grade.score >= PARTIAL_FROM else "Not quite yet."
    return f"{start} The main thing missing: {gap}. " + then if gap else f"{start} " + then


def _day(iso: str) -> str:
    """"3 Dec" from an ISO time."""
    from datetime import datetime

    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso[:10]
    return f"{moment.day} {moment.strftime('%b')}"


def _short(point: str, limit: int = 140) -> str:
    """A key point trimmed for one spoken line."""
    point = point.strip().rstrip(".")
    return point if len(point) <= limit else point[: limit - 1].rsplit(" ", 1)[0] + "…"
