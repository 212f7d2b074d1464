"""kb: an offline knowledge base and interview coach over markdown Q&A notes."""
from .cards import Card
from .config import Config
from .errors import KbError
from .knowledge import KnowledgeBase
from .search import Hit

__all__ = ["Card", "Config", "Hit", "KbError", "KnowledgeBase"]
__version__ = "0.1.0"
