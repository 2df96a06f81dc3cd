"""Knowledge gaps: questions the bot could not answer, grouped, each one click from an entry."""

from urllib.parse import urlencode

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from kb.models import KnowledgeGap
from kb.selectors import knowledge_gap_groups
from kb.services import knowledge_gaps_dismiss


@admin.register(KnowledgeGap)
class KnowledgeGapAdmin(admin.ModelAdmin):
    list_display = ("question", "site", "reason", "created_at", "resolved_entry")
    list_filter = ("site", "reason")
    readonly_fields = (
        "site",
        "question",
        "message_id",
        "reason",
        "resolved_entry",
        "resolved_at",
        "created_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context=None):
        if request.method == "POST" and self.has_change_permission(request):
            ids = [int(i) for i in request.POST.getlist("gap_ids") if i.isdigit()]
            count = knowledge_gaps_dismiss(gap_ids=ids)
            self.message_user(request, f"Dismissed {count} questions.", messages.SUCCESS)
            return HttpResponseRedirect(request.get_full_path())
        site_id = request.GET.get("site")
        groups = knowledge_gap_groups(
            site_id=int(site_id) if site_id and site_id.isdigit() else None
        )
        add_url = reverse("admin:kb_entry_add")
        for group in groups:
            group.create_url = (
                add_url
                + "?"
                + urlencode(
                    {
                        "site": group.site.pk,
                        "question": group.question,
                        "answer": group.agent_reply,
                        "alternatives": "\n".join(group.other_questions),
                        "gap_ids": ",".join(str(i) for i in group.gap_ids),
                    }
                )
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Knowledge gaps",
            "groups": groups,
            "can_change": self.has_change_permission(request),
            **(extra_context or {}),
        }
        return TemplateResponse(request, "admin/kb/knowledgegap/groups.html", context)
