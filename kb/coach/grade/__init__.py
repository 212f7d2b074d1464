"""Grading a spoken-style answer against its card: key points, contradictions, score. No LLM.

1. Key points come from the card's answer: one point per sentence-level claim (a bold lead term
   such as "**MAE**:" is attached to each claim under it) and one per display formula.
2. Coverage: each key point's embedding against the answer's sentences (max cosine), blended with
   how many of the point's content words (ML synonyms folded) the answer uses; the score mixes the
   weighted coverage with the whole answer's similarity to the card's answer.
3. Contradictions: embeddings do not see "mean" vs "median" or "forward" vs "reverse", so a small
   lexicon of contrasting attributes (kb/data/english/antonyms.txt and the packs' antonyms.txt, via kb.vocab), plus the card's own compared
   terms (bold lead terms, or "X vs Y" in the question), finds clauses that attach the opposite
   attribute to something the card describes; a clause that restates a claim of the card with the
   negation flipped counts too. Each contradicting clause divides the score.

Modules, each importing only those above it:
    text              normalisation: plain text, synonym folding, tokens, stems, sentences, clauses
    antonyms          the antonym lexicon: each word's (axis, pole)s
    points            key points of a card's answer
    relations         directional patterns: comparatives, ordered pairs, dismissals, roles, numbers
    compared          the card's compared terms; ordered-pair and misattribution checks
    contradictions    attribute contradictions (antonym lexicon and compared terms)
    relation_clashes  the relation patterns applied to a card, one test per pattern
    negation          negation flips (the text side)
    repairs           the small edits that turn a wrong clause into a card claim
    history           the user's labelled answers to a card, as references
    result            Grade and its parts: covered points with the answer's span, contradictions with
                      the card sentence and the rule that found them, the card an off-topic answer fits
    analysis          CardAnalysis (a card read and embedded once) and AnswerAnalysis (an answer read once)
    checks            the registered contradiction checks (CHECKS), one signature and one rule id each
    spans             the words of an answer that say a key point
    fit               CardSpace: which card an answer fits (an answer to another question scores near 0)
    grader            Grader: coverage, the checks in order, the score (KnowledgeBase.grade keeps one Grader per index)
    calibration       a profile's own blend weights (`kb calibrate grader`)
"""
from kb.coach.grade.fit import CardSpace
from kb.coach.grade.grader import Grader, max_score_after_hints
from kb.coach.grade.points import KeyPoint, key_points
from kb.coach.grade.result import Contradiction, CoveredPoint, FitsCard, Grade

__all__ = ["CardSpace", "Contradiction", "CoveredPoint", "FitsCard", "Grade", "Grader", "KeyPoint", "key_points", "max_score_after_hints"]
