"""kb: an offline knowledge base and interview coach over markdown Q&A notes.

`KnowledgeBase` is the one public API; the names below are the types it returns and the few
helpers a surface (the CLI, the web app, a script) needs to render them. Each is imported on first
use (PEP 562), so `kb --help` and a one-off `kb search` load only the rooms they need: add a new
public name to _EXPORTS, to __all__ and to the TYPE_CHECKING block (tests/test_public_api.py
checks the three agree), never as a real import at the top of this file.
"""
import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what the lazy table loads, so type checkers and IDEs see every public name
    from kb.anki.export import AnkiExport
    from kb.anki.history import HistoryReport
    from kb.anki.importer import AnkiImport, import_anki
    from kb.coach.chat import ChatReply, Citation
    from kb.coach.feedback import feedback_blocks as grade_feedback
    from kb.coach.fsrs_fit import FitResult, SchedulerStatus
    from kb.coach.grade import Grade
    from kb.coach.interview import InterviewSession, Turn
    from kb.coach.progress import ProfileProgress, ProgressStore
    from kb.coach.scheduling import RATING_NAMES, rating_explanation
    from kb.coach.stats import ReviewStats
    from kb.config import Config
    from kb.errors import KbError
    from kb.knowledge import KnowledgeBase
    from kb.links.related import Link, TopicGraph
    from kb.notes.cards import Card
    from kb.notes.concepts import Glossary
    from kb.notes.corpus import Problem
    from kb.notes.explain import Explanation, explain_note, format_explanation
    from kb.notes.markdown import WIKI_LINK_RE, parser as markdown_parser, wiki_link_text
    from kb.retrieval.search import MODES, Hit, clean_query
    from kb.voice import Transcript, voice_available, voice_hint

_EXPORTS = {  # public name -> the module that defines it (or (module, name there))
    "AnkiExport": "kb.anki.export",
    "AnkiImport": "kb.anki.importer",
    "Card": "kb.notes.cards",
    "ChatReply": "kb.coach.chat",
    "Citation": "kb.coach.chat",
    "clean_query": "kb.retrieval.search",
    "Config": "kb.config",
    "FitResult": "kb.coach.fsrs_fit",
    "explain_note": "kb.notes.explain",
    "Explanation": "kb.notes.explain",
    "format_explanation": "kb.notes.explain",
    "Glossary": "kb.notes.concepts",
    "Grade": "kb.coach.grade",
    "grade_feedback": ("kb.coach.feedback", "feedback_blocks"),
    "HistoryReport": "kb.anki.history",
    "Hit": "kb.retrieval.search",
    "import_anki": "kb.anki.importer",
    "InterviewSession": "kb.coach.interview",
    "KbError": "kb.errors",
    "KnowledgeBase": "kb.knowledge",
    "Link": "kb.links.related",
    "markdown_parser": ("kb.notes.markdown", "parser"),
    "MODES": "kb.retrieval.search",
    "Problem": "kb.notes.corpus",
    "ProfileProgress": "kb.coach.progress",
    "ProgressStore": "kb.coach.progress",
    "rating_explanation": "kb.coach.scheduling",
    "RATING_NAMES": "kb.coach.scheduling",
    "ReviewStats": "kb.coach.stats",
    "SchedulerStatus": "kb.coach.fsrs_fit",
    "TopicGraph": "kb.links.related",
    "voice_available": "kb.voice",
    "voice_hint": "kb.voice",
    "Transcript": "kb.voice",
    "Turn": "kb.coach.interview",
    "WIKI_LINK_RE": "kb.notes.markdown",
    "wiki_link_text": "kb.notes.markdown",
}
__all__ = [
    "AnkiExport", "AnkiImport", "Card", "ChatReply", "Citation", "Config", "Explanation", "FitResult", "Glossary",
    "Grade", "HistoryReport", "Hit", "InterviewSession", "KbError", "KnowledgeBase", "Link", "MODES", "Problem",
    "ProfileProgress", "ProgressStore", "RATING_NAMES", "ReviewStats", "SchedulerStatus", "TopicGraph", "Transcript",
    "Turn", "WIKI_LINK_RE", "clean_query", "explain_note", "format_explanation", "grade_feedback", "import_anki",
    "markdown_parser", "rating_explanation", "voice_available", "voice_hint", "wiki_link_text",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'kb' has no attribute {name!r}")
    module, attr = target if isinstance(target, tuple) else (target, name)
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
