from django.conf import settings
from django.db import models

from helpdesk.models import Site


class Tag(models.Model):
    name = models.CharField(max_length=60, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Entry(models.Model):
    """One question the bot can answer on its own, with the phrasings visitors use."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="kb_entries")
    question = models.CharField(max_length=500)
    answer = models.TextField()
    alternatives = models.TextField(
        blank=True, help_text="Other ways visitors ask this question, one per line."
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="entries")
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "entries"
        ordering = ["site", "question"]
        constraints = [
            models.UniqueConstraint(fields=["site", "question"], name="kb_entry_unique_question")
        ]
        indexes = [models.Index(fields=["site", "enabled"], name="kb_entry_site_enabled_idx")]

    def __str__(self) -> str:
        return self.question

    @property
    def alternative_list(self) -> list[str]:
        return [line.strip() for line in self.alternatives.splitlines() if line.strip()]

    @property
    def phrasings(self) -> list[str]:
        return [self.question, *self.alternative_list]


class SensitiveWord(models.Model):
    """A word or pattern screened in visitor input and LLM output."""

    class Action(models.TextChoices):
        BLOCK = "block", "Block the message"
        MASK = "mask", "Mask the word with ***"
        ESCALATE = "escalate", "Hand the conversation to a human"

    site = models.ForeignKey(
        Site,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="sensitive_words",
        help_text="Empty: applies to every site.",
    )
    word = models.CharField(max_length=200)
    is_regex = models.BooleanField(
        default=False, help_text="Treat the word as a Python regular expression."
    )
    action = models.CharField(max_length=8, choices=Action.choices, default=Action.MASK)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["word"]
        constraints = [
            models.UniqueConstraint(fields=["site", "word"], name="kb_sensitive_word_unique")
        ]
        indexes = [models.Index(fields=["enabled", "site"], name="kb_sensitive_enabled_idx")]

    def __str__(self) -> str:
        return self.word

    def clean(self) -> None:
        import re

        from django.core.exceptions import ValidationError

        if self.is_regex:
            try:
                re.compile(self.word)
            except re.error as exc:
                raise ValidationError({"word": f"Not a valid regular expression: {exc}"}) from exc


class EntryVector(models.Model):
    """An entry's sentence embeddings for the semantic tier, one float32 row per text.

    Rows: question + answer, the answer, then each phrasing (see
    kb.matching.core.entry_vector_texts). `content_hash` covers the backend and
    the texts, so an edited entry or a new embeddings model shows as stale.
    """

    entry = models.OneToOneField(Entry, on_delete=models.CASCADE, related_name="vector")
    backend = models.CharField(max_length=200)
    content_hash = models.CharField(max_length=64)
    dimensions = models.PositiveIntegerField()
    vectors = models.BinaryField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.backend} vectors of entry {self.entry_id}"


class KnowledgeGap(models.Model):
    """A visitor question the knowledge base could not answer (no match, or escalated)."""

    class Reason(models.TextChoices):
        NO_MATCH = "none", "No knowledge-base match"
        ESCALATED = "escalated", "Escalated to a human"

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="knowledge_gaps")
    question = models.TextField()
    # Not a foreign key: conversations depends on kb, not the other way round.
    message_id = models.BigIntegerField(null=True, blank=True)
    reason = models.CharField(max_length=16, default=Reason.NO_MATCH)
    resolved_entry = models.ForeignKey(
        Entry, null=True, blank=True, on_delete=models.SET_NULL, related_name="resolved_gaps"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["site", "resolved_at", "-created_at"], name="kb_gap_open_idx")
        ]

    def __str__(self) -> str:
        return self.question[:80]
