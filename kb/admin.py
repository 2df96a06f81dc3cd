from django.contrib import admin
from django.http import HttpRequest

from kb.models import Entry, SensitiveWord, Tag


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("name",)
    search_fields = ("name",)


@admin.register(Entry)
class EntryAdmin(admin.ModelAdmin):
    list_display = ("question", "site", "enabled", "tag_list", "updated_by", "updated_at")
    list_filter = ("enabled", "site", "tags", "updated_at")
    search_fields = ("question", "answer", "alternatives")
    list_editable = ("enabled",)
    filter_horizontal = ("tags",)
    readonly_fields = ("created_by", "updated_by", "created_at", "updated_at")
    fields = (
        "site",
        "question",
        "alternatives",
        "answer",
        "tags",
        "enabled",
        "created_by",
        "updated_by",
        "created_at",
        "updated_at",
    )

    def get_queryset(self, request: HttpRequest):
        return (
            super()
            .get_queryset(request)
            .select_related("site", "updated_by")
            .prefetch_related("tags")
        )

    @admin.display(description="Tags")
    def tag_list(self, obj: Entry) -> str:
        return ", ".join(tag.name for tag in obj.tags.all())

    def save_model(self, request: HttpRequest, obj: Entry, form, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(SensitiveWord)
class SensitiveWordAdmin(admin.ModelAdmin):
    list_display = ("word", "action", "site", "is_regex", "enabled", "updated_at")
    list_filter = ("action", "enabled", "is_regex", "site")
    search_fields = ("word",)
    list_editable = ("action", "enabled")
