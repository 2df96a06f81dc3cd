import uuid

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from conversations.attachments.storage_paths import attachment_upload_to
from helpdesk.models import Agent, Site
from kb.models import Entry


class Visitor(models.Model):
    """Someone chatting through a site's widget, anonymous unless the host page identifies them."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="visitors")
    anonymous_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    external_id = models.CharField(
        max_length=200, blank=True, help_text="user_id passed by the host site."
    )
    email = models.EmailField(blank=True)
    name = models.CharField(max_length=200, blank=True)
    identity_verified = models.BooleanField(
        default=False, help_text="The host site proved the identity with a valid user_hash."
    )
    page_url = models.URLField(max_length=2000, blank=True)
    referrer = models.URLField(max_length=2000, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    language = models.CharField(max_length=35, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    location = models.CharField(max_length=120, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-last_seen_at"]
        indexes = [
            models.Index(fields=["site", "external_id"], name="visitor_site_external_idx"),
            models.Index(fields=["site", "-last_seen_at"], name="visitor_site_seen_idx"),
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        return self.name or self.email or f"Visitor {str(self.anonymous_id)[:8]}"


class Conversation(models.Model):
    class State(models.TextChoices):
        BOT = "bot", "Bot"
        WAITING = "waiting", "Waiting for a human"
        HUMAN = "human", "Human"
        CLOSED = "closed", "Closed"

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="conversations")
    visitor = models.ForeignKey(Visitor, on_delete=models.CASCADE, related_name="conversations")
    state = models.CharField(max_length=8, choices=State.choices, default=State.BOT)
    assigned_agent = models.ForeignKey(
        Agent,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="conversations",
    )
    escalation_reason = models.CharField(max_length=200, blank=True)
    # The LLM reply currently allowed to stream; anything else is stale and
    # must not be saved or shown (a newer message or a takeover superseded it).
    pending_reply_id = models.UUIDField(null=True, blank=True)
    pending_reply_started_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_activity_at = models.DateTimeField(auto_now_add=True)
    waiting_since = models.DateTimeField(null=True, blank=True)
    visitor_last_seen_id = models.BigIntegerField(default=0)
    agent_last_seen_id = models.BigIntegerField(default=0)
    closed_at = models.DateTimeField(null=True, blank=True)
    # When a human was first needed (escalation, LLM failure, or an agent
    # taking over) and why. Unlike escalation_reason, which hand-back clears and
    # closing overwrites, these never change again: the reports count on them.
    human_needed_at = models.DateTimeField(null=True, blank=True)
    human_needed_reason = models.CharField(max_length=200, blank=True)
    csat_rating = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(5)],
        help_text="The visitor's 1-5 satisfaction rating, asked for when the conversation closes.",
    )
    csat_comment = models.TextField(blank=True)
    csat_submitted_at = models.DateTimeField(null=True, blank=True)
    transcript_sent_at = models.DateTimeField(
        null=True, blank=True, help_text="Last time the transcript was emailed to the visitor."
    )

    class Meta:
        ordering = ["-last_activity_at"]
        indexes = [
            models.Index(fields=["site", "state", "-last_activity_at"], name="conv_console_idx"),
            models.Index(fields=["state", "last_activity_at"], name="conv_expiry_idx"),
            models.Index(fields=["visitor", "-created_at"], name="conv_visitor_idx"),
            models.Index(fields=["assigned_agent", "state"], name="conv_agent_idx"),
            models.Index(fields=["site", "created_at"], name="conv_report_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.visitor} ({self.state})"

    @property
    def is_open(self) -> bool:
        return self.state != self.State.CLOSED


class Message(models.Model):
    class Author(models.TextChoices):
        VISITOR = "visitor", "Visitor"
        BOT = "bot", "Bot"
        AGENT = "agent", "Agent"
        SYSTEM = "system", "System"

    class Source(models.TextChoices):
        VISITOR = "visitor", "Visitor"
        KB = "kb", "Knowledge base"
        LLM = "llm", "LLM"
        AGENT = "agent", "Agent"
        SYSTEM = "system", "System"
        FILTER = "filter", "Sensitive-word filter"

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    author_kind = models.CharField(max_length=8, choices=Author.choices)
    agent = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    text = models.TextField()
    source = models.CharField(max_length=8, choices=Source.choices)
    kb_entry = models.ForeignKey(
        Entry, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    kb_score = models.FloatField(null=True, blank=True)
    client_id = models.CharField(
        max_length=64, blank=True, help_text="Sender's id; a resend with the same id is ignored."
    )
    reply_id = models.UUIDField(null=True, blank=True)
    is_internal = models.BooleanField(
        default=False, help_text="An internal note: shown to agents only, never to the visitor."
    )
    filter_action = models.CharField(
        max_length=8, blank=True, help_text="What the sensitive-word filter did to this text."
    )
    interrupted = models.BooleanField(
        default=False, help_text="A streamed reply cut short by a newer message."
    )
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "client_id"],
                condition=~Q(client_id=""),
                name="message_unique_client_id",
            )
        ]
        indexes = [
            models.Index(fields=["conversation", "id"], name="message_conversation_idx"),
            models.Index(fields=["source", "created_at"], name="message_source_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.author_kind}: {self.text[:60]}"


class CannedResponse(models.Model):
    """A saved reply agents insert by typing /shortcut in the console."""

    site = models.ForeignKey(
        Site,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="canned_responses",
        help_text="Empty: available on every site.",
    )
    shortcut = models.SlugField(max_length=40, help_text="Typed as /shortcut in the composer.")
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["shortcut"]
        constraints = [
            models.UniqueConstraint(fields=["site", "shortcut"], name="canned_unique_shortcut")
        ]

    def __str__(self) -> str:
        return f"/{self.shortcut}"


class Attachment(models.Model):
    """A file a visitor or an agent sent; linked to its message when that is sent.

    A visitor may upload before their first message, when there is no
    conversation yet: the upload belongs to the visitor until the message that
    carries it is saved, and then to that message's conversation.
    """

    class Uploader(models.TextChoices):
        VISITOR = "visitor", "Visitor"
        AGENT = "agent", "Agent"

    visitor = models.ForeignKey(
        Visitor,
        on_delete=models.CASCADE,
        related_name="attachments",
        help_text="The visitor of the conversation (the uploader, for a visitor's file).",
    )
    conversation = models.ForeignKey(
        Conversation,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="attachments",
        help_text="Empty for a visitor's upload until its message is sent.",
    )
    message = models.ForeignKey(
        Message,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="attachments",
        help_text="Empty until sent; unsent uploads are deleted after a day.",
    )
    uploader_kind = models.CharField(max_length=8, choices=Uploader.choices)
    agent = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.SET_NULL, related_name="attachments"
    )
    file = models.FileField(upload_to=attachment_upload_to, max_length=200)
    original_name = models.CharField(max_length=255, help_text="Sanitised; shown and downloaded.")
    content_type = models.CharField(max_length=100, help_text="Detected from the content.")
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["message", "created_at"], name="attachment_unsent_idx"),
        ]

    def __str__(self) -> str:
        return self.original_name

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")
