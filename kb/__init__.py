"""kb: an offline knowledge base and interview coach over markdown Q&A notes.

`KnowledgeBase` is the one public API; the names below are the types it returns and the few
helpers a surface (the CLI, the web app, a script) needs to render them.
"""
from kb.coach.chat import ChatReply, Citation
from kb.coach.grade import Grade
from kb.coach.interview import InterviewSession, Turn
from kb.coach.progress import ProfileProgress, ProgressStore
from kb.coach.scheduling import RATING_NAMES, rating_explanation
from kb.config import Config
from kb.errors import KbError
from kb.knowledge import KnowledgeBase
from kb.links.related import Link, TopicGraph
from kb.notes.cards import Card
from kb.notes.concepts import Glossary
from kb.notes.markdown import WIKI_LINK_RE, wiki_link_text
from kb.notes.markdown import parser as markdown_parser
from kb.notes.parse import Problem
from kb.retrieval.search import MODES, Hit, clean_query

__all__ = [
    "Card", "ChatReply", "Citation", "Config", "Glossary", "Grade", "Hit", "InterviewSession", "KbError", "KnowledgeBase",
    "Link", "MODES", "Problem", "ProfileProgress", "ProgressStore", "RATING_NAMES", "TopicGraph", "Turn", "WIKI_LINK_RE",
    "clean_query", "markdown_parser", "rating_explanation", "wiki_link_text",
]
__version__ = "0.1.0"
