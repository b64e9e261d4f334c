"""The coaching content: data files validated against a schema when loaded."""

from bot.knowledge.loader import (
    KnowledgeBase,
    KnowledgeError,
    Problem,
    load_knowledge,
    shipped_knowledge,
)

__all__ = ["KnowledgeBase", "KnowledgeError", "Problem", "load_knowledge", "shipped_knowledge"]
