from django.contrib import admin

import helpdesk.webhooks.admin  # noqa: F401  (registers the webhook endpoint and delivery admins)
from helpdesk.models import Agent, Site


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "public_key",
        "bot_enabled",
        "effective_llm_model",
        "kb_match_threshold",
        "updated_at",
    )
    list_filter = ("bot_enabled", "widget_position", "created_at")
    search_fields = ("name", "public_key", "allowed_origins")
    readonly_fields = ("created_at", "updated_at", "embed_snippet")
    fieldsets = (
        (None, {"fields": ("name", "public_key", "embed_snippet", "allowed_origins")}),
        (
            "Widget",
            {
                "fields": (
                    "greeting",
                    "greeting_zh",
                    "fallback_message",
                    "fallback_message_zh",
                    "offline_message",
                    "offline_message_zh",
                    "widget_color",
                    "widget_position",
                    "business_hours",
                )
            },
        ),
        (
            "Bot and LLM",
            {
                "fields": (
                    "bot_enabled",
                    "llm_model",
                    "system_prompt",
                    "llm_temperature",
                    "llm_max_tokens",
                    "llm_timeout_seconds",
                    "llm_first_token_timeout_seconds",
                    "llm_daily_token_budget",
                )
            },
        ),
        ("Knowledge base", {"fields": ("kb_match_threshold", "kb_ground_threshold")}),
        ("Conversations", {"fields": ("idle_timeout_minutes",)}),
        (
            "Attachments",
            {
                "fields": (
                    "attachments_enabled",
                    "attachment_max_bytes",
                    "attachment_allowed_types",
                )
            },
        ),
        ("Security", {"classes": ("collapse",), "fields": ("identity_secret",)}),
        ("Timestamps", {"fields": ("created_at", "updated_at")}),
    )

    @admin.display(description="Embed code")
    def embed_snippet(self, obj: Site) -> str:
        if not obj.pk:
            return "Save the site to get its embed code."
        return (
            f'<script src="https://YOUR-HELPDESK/static/widget.js" '
            f'data-site="{obj.public_key}" async></script>'
        )

    @admin.display(description="LLM model")
    def effective_llm_model(self, obj: Site) -> str:
        return obj.effective_llm_model


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin):
    list_display = (
        "display_name",
        "user",
        "status",
        "max_concurrent_conversations",
        "languages",
        "last_seen_at",
    )
    list_filter = ("status", "sites", "languages")
    search_fields = ("display_name", "user__username", "user__email", "languages")
    autocomplete_fields = ("user",)
    filter_horizontal = ("sites",)
    readonly_fields = ("last_seen_at", "created_at")
