import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


def generate_public_key() -> str:
    return "pk_" + secrets.token_urlsafe(18)


def generate_identity_secret() -> str:
    return secrets.token_urlsafe(32)


def default_business_hours() -> dict:
    """Monday-Friday 09:00-17:00 in the Site's timezone; weekdays are 0=Monday."""
    return {"timezone": "UTC", "days": {str(day): [["09:00", "17:00"]] for day in range(5)}}


def default_attachment_max_bytes() -> int:
    return 10 * 1024 * 1024


def default_attachment_allowed_types() -> str:
    return "\n".join(
        (
            "image/png",
            "image/jpeg",
            "image/gif",
            "image/webp",
            "application/pdf",
            "text/plain",
            "text/csv",
        )
    )


class Site(models.Model):
    """One embeddable chat widget and all of its run-time configuration."""

    class WidgetPosition(models.TextChoices):
        RIGHT = "right", "Bottom right"
        LEFT = "left", "Bottom left"

    name = models.CharField(max_length=120)
    public_key = models.CharField(
        max_length=64,
        unique=True,
        default=generate_public_key,
        help_text='Goes in the widget tag: data-site="...". Not a secret.',
    )
    identity_secret = models.CharField(
        max_length=128,
        default=generate_identity_secret,
        help_text="Secret for HMAC-SHA256 identity verification (user_hash). Keep it server-side.",
    )
    allowed_origins = models.TextField(
        blank=True,
        help_text=(
            "One origin per line, e.g. https://shop.example.com. "
            "Pages on other origins cannot open this site's chat."
        ),
    )
    greeting = models.TextField(default="Hi! How can we help you today?", blank=True)
    greeting_zh = models.TextField(
        "greeting (Chinese)", default="您好！请问有什么可以帮您？", blank=True
    )
    # Blank: the built-in sentence in the visitor's language (locale/ catalogues).
    fallback_message = models.TextField(
        blank=True,
        help_text="Sent when the bot cannot answer and hands over to a person. "
        "Blank: the built-in text.",
    )
    fallback_message_zh = models.TextField("fallback message (Chinese)", blank=True)
    offline_message = models.TextField(
        blank=True,
        help_text="Sent when a visitor asks for a person and nobody is available; {hours} "
        "becomes the business hours. Blank: the built-in text.",
    )
    offline_message_zh = models.TextField("offline message (Chinese)", blank=True)
    business_hours = models.JSONField(
        default=default_business_hours,
        blank=True,
        help_text='{"timezone": "Europe/Berlin", "days": {"0": [["09:00", "17:00"]], ...}}',
    )
    widget_color = models.CharField(max_length=7, default="#2563eb")
    widget_position = models.CharField(
        max_length=5, choices=WidgetPosition.choices, default=WidgetPosition.RIGHT
    )
    bot_enabled = models.BooleanField(default=True)
    llm_model = models.CharField(
        max_length=120, blank=True, help_text="Empty: the OPENAI_MODEL environment default."
    )
    system_prompt = models.TextField(
        default=(
            "You are a friendly customer-service assistant. Answer briefly and only from the "
            "knowledge-base context you are given. If the context does not answer the question, "
            "say you will connect the customer with a human colleague."
        )
    )
    llm_temperature = models.FloatField(
        default=0.2, validators=[MinValueValidator(0.0), MaxValueValidator(2.0)]
    )
    llm_max_tokens = models.PositiveIntegerField(default=400)
    llm_timeout_seconds = models.PositiveIntegerField(
        default=30, help_text="Whole reply must finish within this many seconds."
    )
    llm_first_token_timeout_seconds = models.PositiveIntegerField(default=10)
    llm_daily_token_budget = models.PositiveIntegerField(
        default=0,
        help_text="LLM tokens (prompt + reply) this site may spend per day (UTC); past it the bot "
        "hands new questions to humans. 0: no limit.",
    )
    kb_match_threshold = models.FloatField(
        default=85.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(100.0)],
        help_text=(
            "Confidence (0-100) at or above which the best entry's answer is sent at once "
            "(semantic tier: calibrated confidence; lexical only: fuzzy score). 85 keeps wrong "
            "canned answers under 3 in 100 on our evaluation set; see docs/kb.md."
        ),
    )
    kb_ground_threshold = models.FloatField(
        default=45.0,
        validators=[MinValueValidator(0.0), MaxValueValidator(100.0)],
        help_text=(
            "Entries whose grounding score (0-100) is at least this are given to the LLM as "
            "context (at most three)."
        ),
    )
    idle_timeout_minutes = models.PositiveIntegerField(
        default=30, help_text="Conversations idle this long are closed."
    )
    attachments_enabled = models.BooleanField(
        default=True, help_text="Visitors and agents may send images and files."
    )
    attachment_max_bytes = models.PositiveIntegerField(
        default=default_attachment_max_bytes,
        help_text="Largest file accepted, in bytes (never above ATTACHMENTS_MAX_BYTES).",
    )
    attachment_allowed_types = models.TextField(
        default=default_attachment_allowed_types,
        help_text="One content type per line, detected from the file's bytes. HTML and SVG "
        "are never accepted.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name

    @property
    def origin_list(self) -> list[str]:
        return [
            line.strip().rstrip("/") for line in self.allowed_origins.splitlines() if line.strip()
        ]

    @property
    def attachment_type_list(self) -> list[str]:
        return [
            line.strip().lower()
            for line in self.attachment_allowed_types.replace(",", "\n").splitlines()
            if line.strip()
        ]

    def bot_message(self, key: str, *, language: str) -> str:
        """The site's own wording of a fixed bot message, or "" to use the built-in one."""
        field = {"fallback": "fallback_message", "offline": "offline_message"}.get(key)
        if field is None:
            return ""
        return getattr(self, field + ("_zh" if language == "zh" else "")) or ""

    @property
    def effective_llm_model(self) -> str:
        return self.llm_model or settings.OPENAI_MODEL


class Agent(models.Model):
    """A staff member who answers conversations in the console."""

    class Status(models.TextChoices):
        ONLINE = "online", "Online"
        AWAY = "away", "Away"
        OFFLINE = "offline", "Offline"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent"
    )
    display_name = models.CharField(max_length=80)
    avatar_color = models.CharField(max_length=7, default="#0ea5e9")
    avatar_initials = models.CharField(max_length=3, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OFFLINE)
    max_concurrent_conversations = models.PositiveIntegerField(default=5)
    languages = models.CharField(
        max_length=120, default="en", help_text="Comma-separated language codes, e.g. en,zh-hans"
    )
    sites = models.ManyToManyField(
        Site, blank=True, related_name="agents", help_text="Empty: every site."
    )
    last_seen_at = models.DateTimeField(null=True, blank=True)
    last_assigned_at = models.DateTimeField(
        null=True, blank=True, help_text="For round-robin assignment: longest idle goes first."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["display_name"]
        indexes = [models.Index(fields=["status"], name="agent_status_idx")]

    def __str__(self) -> str:
        return self.display_name

    @property
    def initials(self) -> str:
        if self.avatar_initials:
            return self.avatar_initials
        parts = self.display_name.split()
        return "".join(part[0] for part in parts[:2]).upper() or "?"

    @property
    def language_list(self) -> list[str]:
        return [code.strip() for code in self.languages.split(",") if code.strip()]


# Webhook models live in their own package but belong to this app (and its migrations).
from helpdesk.webhooks.models import WebhookDelivery, WebhookEndpoint  # noqa: E402, F401
