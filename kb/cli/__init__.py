"""The `kb` command: one thin click command per public KnowledgeBase method."""
from kb.cli.main import main

__all__ = ["main"]
