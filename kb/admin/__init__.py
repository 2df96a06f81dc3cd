"""The knowledge base in the Django admin: entries (with import, export and the playground),
tags, sensitive words and knowledge gaps."""

from kb.admin.entries import EntryAdmin, SensitiveWordAdmin, TagAdmin
from kb.admin.gaps import KnowledgeGapAdmin

__all__ = ["EntryAdmin", "KnowledgeGapAdmin", "SensitiveWordAdmin", "TagAdmin"]
