from django.contrib import admin
from django.http import HttpRequest

from conversations.models import CannedResponse, Conversation, Message, Visitor


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    can_delete = False
    fields = (
        "created_at",
        "author_kind",
        "agent",
        "source",
        "text",
        "kb_entry",
        "latency_ms",
        "interrupted",
    )
    readonly_fields = fields
    ordering = ("id",)

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Visitor)
class VisitorAdmin(admin.ModelAdmin):
    list_display = (
        "display_name",
        "site",
        "email",
        "identity_verified",
        "language",
        "last_seen_at",
    )
    list_filter = ("site", "identity_verified", "language", "created_at")
    search_fields = ("name", "email", "external_id", "anonymous_id", "page_url")
    readonly_fields = ("anonymous_id", "created_at", "last_seen_at")


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "visitor",
        "site",
        "state",
        "assigned_agent",
        "last_activity_at",
        "created_at",
    )
    list_filter = ("state", "site", "assigned_agent", "created_at")
    search_fields = ("visitor__name", "visitor__email", "messages__text")
    list_select_related = ("visitor", "site", "assigned_agent")
    readonly_fields = (
        "pending_reply_id",
        "pending_reply_started_at",
        "created_at",
        "updated_at",
        "last_activity_at",
        "waiting_since",
        "closed_at",
    )
    raw_id_fields = ("visitor",)
    inlines = [MessageInline]
    date_hierarchy = "created_at"

    def get_search_results(self, request, queryset, search_term):
        queryset, _duplicates = super().get_search_results(request, queryset, search_term)
        return queryset.distinct(), False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "conversation",
        "author_kind",
        "source",
        "short_text",
        "latency_ms",
        "created_at",
    )
    list_filter = ("author_kind", "source", "is_internal", "interrupted", "created_at")
    search_fields = ("text", "client_id")
    list_select_related = ("conversation",)
    raw_id_fields = ("conversation", "kb_entry", "agent")
    readonly_fields = ("created_at",)

    @admin.display(description="Text")
    def short_text(self, obj: Message) -> str:
        return obj.text[:80]


@admin.register(CannedResponse)
class CannedResponseAdmin(admin.ModelAdmin):
    list_display = ("shortcut", "site", "short_text", "updated_at")
    list_filter = ("site",)
    search_fields = ("shortcut", "text")

    @admin.display(description="Text")
    def short_text(self, obj: CannedResponse) -> str:
        return obj.text[:80]
