"""The knowledge base over HTTP: entry CRUD and an idempotent sync, so a CMS can own the FAQ.

Same callers as the agent API (staff token or console session, the caller's sites
only); changes also need the Django permissions the admin asks for (kb add/change/
delete entry; superusers have them all). Writes go through kb.entry_services, so the
matcher answers the next visitor message from the new entries in every process.
"""

from django.db import IntegrityError
from django.db.models import Q
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conversations.api.agent_auth import (
    AgentAPIMixin,
    StaffAgentPermission,
    error_responses,
    request_site_ids,
)
from conversations.api.agent_pagination import AgentAPIPagination
from kb.api_serializers import (
    KbEntryListQuerySerializer,
    KbEntrySerializer,
    KbSyncRequestSerializer,
    KbSyncResultSerializer,
)
from kb.entry_services import EntrySpec, entries_sync, entry_create, entry_delete, entry_update
from kb.models import Entry

TAGS = ["agent: knowledge base"]
CHANGE_PERMISSION = {"POST": "add", "PUT": "change", "PATCH": "change", "DELETE": "delete"}


class EntryPermission(StaffAgentPermission):
    """Reading needs a staff agent; writing also the admin's permission for entries."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        if not super().has_permission(request, view):
            return False
        action = CHANGE_PERMISSION.get(request.method or "")
        return action is None or request.user.has_perm(f"kb.{action}_entry")


class SyncPermission(StaffAgentPermission):
    def has_permission(self, request: Request, view: APIView) -> bool:
        return super().has_permission(request, view) and request.user.has_perms(
            ["kb.add_entry", "kb.change_entry"]
        )


class EntryViewMixin(AgentAPIMixin):
    permission_classes = [EntryPermission]
    serializer_class = KbEntrySerializer

    def get_queryset(self):
        return (
            Entry.objects.filter(site_id__in=request_site_ids(self.request))
            .prefetch_related("tags")
            .order_by("id")
        )

    def get_serializer_context(self) -> dict:
        return {**super().get_serializer_context(), "site_ids": request_site_ids(self.request)}


def _question_taken() -> exceptions.ValidationError:
    # Another request saved the same question between validation and save.
    return exceptions.ValidationError(
        {"question": [_("This site already has an entry with this question.")]}
    )


@extend_schema_view(
    get=extend_schema(
        tags=TAGS,
        summary="List entries",
        parameters=[KbEntryListQuerySerializer],
        responses={200: KbEntrySerializer(many=True), **error_responses(400)},
    ),
    post=extend_schema(
        tags=TAGS,
        summary="Create an entry",
        responses={201: KbEntrySerializer, **error_responses(400)},
    ),
)
class EntryListView(EntryViewMixin, generics.ListCreateAPIView):
    pagination_class = AgentAPIPagination

    def get_queryset(self):
        entries = super().get_queryset()
        if self.request.method != "GET":
            return entries
        query = KbEntryListQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        if "site" in query.validated_data:
            entries = entries.filter(site_id=query.validated_data["site"])
        text = query.validated_data.get("q", "").strip()
        if text:
            entries = entries.filter(
                Q(question__icontains=text)
                | Q(alternatives__icontains=text)
                | Q(answer__icontains=text)
            )
        return entries

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:
        data = serializer.validated_data
        try:
            serializer.instance = entry_create(
                site=data["site"],
                question=data["question"],
                answer=data["answer"],
                alternatives=data.get("alternatives", []),
                tags=data.get("tags", []),
                enabled=data.get("enabled", True),
                user=self.request.user,
            )
        except IntegrityError:
            raise _question_taken() from None


@extend_schema_view(
    get=extend_schema(
        tags=TAGS,
        summary="Read an entry",
        responses={200: KbEntrySerializer, **error_responses(404)},
    ),
    put=extend_schema(
        tags=TAGS,
        summary="Replace an entry",
        description="Omitted `alternatives` and `tags` become empty; omitted `enabled`, true.",
        responses={200: KbEntrySerializer, **error_responses(400, 404)},
    ),
    patch=extend_schema(
        tags=TAGS,
        summary="Change some fields of an entry",
        responses={200: KbEntrySerializer, **error_responses(400, 404)},
    ),
    delete=extend_schema(
        tags=TAGS,
        summary="Delete an entry",
        responses={204: OpenApiResponse(description="Deleted."), **error_responses(404)},
    ),
)
class EntryDetailView(EntryViewMixin, generics.RetrieveUpdateDestroyAPIView):
    lookup_url_kwarg = "entry_id"

    def perform_update(self, serializer: serializers.BaseSerializer) -> None:
        data = serializer.validated_data
        replace = not serializer.partial
        try:
            serializer.instance = entry_update(
                entry=serializer.instance,
                user=self.request.user,
                question=data.get("question"),
                answer=data.get("answer"),
                alternatives=data.get("alternatives", [] if replace else None),
                tags=data.get("tags", [] if replace else None),
                enabled=data.get("enabled", True if replace else None),
            )
        except IntegrityError:
            raise _question_taken() from None

    def perform_destroy(self, instance: Entry) -> None:
        entry_delete(entry=instance)


class EntrySyncView(AgentAPIMixin, APIView):
    permission_classes = [SyncPermission]

    @extend_schema(
        tags=TAGS,
        summary="Sync a site's entries (upsert by question)",
        description="Creates the entries whose question is new, updates those whose answer, "
        "alternatives, tags or state differ, leaves the rest; with `delete_missing`, deletes "
        "the site's entries not sent. Idempotent: sending the same body again changes "
        "nothing. All or nothing: any invalid row fails the whole request with 400 and "
        "`fields.entries` listing the errors row by row. Needs the kb add and change "
        "entry permissions (and delete with `delete_missing`).",
        request=KbSyncRequestSerializer,
        responses={200: KbSyncResultSerializer, **error_responses(400)},
    )
    def post(self, request: Request) -> Response:
        sync = KbSyncRequestSerializer(
            data=request.data, context={"site_ids": request_site_ids(request)}
        )
        sync.is_valid(raise_exception=True)
        data = sync.validated_data
        if data["delete_missing"] and not request.user.has_perm("kb.delete_entry"):
            raise exceptions.PermissionDenied(
                _("delete_missing needs the permission to delete entries.")
            )
        specs = [
            EntrySpec(
                question=row["question"],
                answer=row["answer"],
                alternatives=tuple(row["alternatives"]),
                tags=tuple(row["tags"]) if "tags" in row else None,
                enabled=row.get("enabled"),
            )
            for row in data["entries"]
        ]
        try:
            summary = entries_sync(
                site=data["site"],
                specs=specs,
                delete_missing=data["delete_missing"],
                user=request.user,
            )
        except IntegrityError:
            # A concurrent write created one of these questions first; the retry is safe.
            raise exceptions.ValidationError(
                {"entries": [_("Another request changed these entries; send it again.")]}
            ) from None
        result = {
            "created": summary.count("created"),
            "updated": summary.count("updated"),
            "unchanged": summary.count("unchanged"),
            "deleted": len(summary.deleted),
            "entries": [vars(e) for e in summary.entries],
            "deleted_questions": summary.deleted,
        }
        return Response(KbSyncResultSerializer(result).data, status=status.HTTP_200_OK)
