from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse

from kb.admin import playground
from kb.admin.forms import ImportForm
from kb.csv_io import CSVRowsInvalid, csv_text_decode, entry_rows_parse, entry_rows_write
from kb.embeddings import embedder_status
from kb.models import Entry, SensitiveWord, Tag
from kb.selectors import entries_export_rows
from kb.services import entries_import, knowledge_gaps_resolve


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

    def get_urls(self):
        own = [
            path("import/", self.admin_site.admin_view(self.import_view), name="kb_entry_import"),
            path("export/", self.admin_site.admin_view(self.export_view), name="kb_entry_export"),
            path(
                "playground/",
                self.admin_site.admin_view(playground.playground_view),
                name="kb_entry_playground",
            ),
            path(
                "playground/reply/",
                self.admin_site.admin_view(playground.playground_reply_view),
                name="kb_entry_playground_reply",
            ),
        ]
        return own + super().get_urls()

    def get_queryset(self, request: HttpRequest):
        return (
            super()
            .get_queryset(request)
            .select_related("site", "updated_by")
            .prefetch_related("tags")
        )

    def changelist_view(self, request: HttpRequest, extra_context=None):
        extra_context = {**(extra_context or {}), "kb_tiers": embedder_status()}
        return super().changelist_view(request, extra_context=extra_context)

    @admin.display(description="Tags")
    def tag_list(self, obj: Entry) -> str:
        return ", ".join(tag.name for tag in obj.tags.all())

    def save_model(self, request: HttpRequest, obj: Entry, form, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        obj.updated_by = request.user
        super().save_model(request, obj, form, change)
        gap_ids = [int(i) for i in request.GET.get("gap_ids", "").split(",") if i.isdigit()]
        if gap_ids and not change:
            knowledge_gaps_resolve(gap_ids=gap_ids, entry=obj)

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request) or not self.has_change_permission(request):
            return HttpResponse(status=403)
        errors: list[str] = []
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            site = form.cleaned_data["site"]
            try:
                rows = entry_rows_parse(csv_text_decode(form.cleaned_data["file"].read()))
            except CSVRowsInvalid as exc:
                errors = [str(e) for e in exc.errors]
            else:
                summary = entries_import(site=site, rows=rows, user=request.user)
                self.message_user(
                    request,
                    f"Imported into {site}: {summary.created} created, {summary.updated} "
                    f"updated, {summary.unchanged} unchanged.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:kb_entry_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Import knowledge-base entries",
            "form": form,
            "errors": errors,
        }
        return playground.render_admin(request, "admin/kb/entry/import.html", context)

    def export_view(self, request: HttpRequest) -> HttpResponse:
        site = playground.site_from_request(request)
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="kb-{site.public_key}.csv"'
        entry_rows_write(entries_export_rows(site=site), response)
        return response


@admin.register(SensitiveWord)
class SensitiveWordAdmin(admin.ModelAdmin):
    list_display = ("word", "action", "site", "is_regex", "enabled", "updated_at")
    list_filter = ("action", "enabled", "is_regex", "site")
    search_fields = ("word",)
    list_editable = ("action", "enabled")
