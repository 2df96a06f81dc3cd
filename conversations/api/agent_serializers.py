"""What the agent API reads and writes: conversations, messages, replies."""

from django.conf import settings
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from conversations.api.visitor_serializers import AttachmentSerializer
from conversations.events import attachment_payload
from conversations.models import Conversation, Message
from conversations.selectors import visitor_details
from helpdesk.models import Agent

# PostgreSQL bigint: larger ids cannot exist, and would fail the query instead of matching none.
ID_MAX = 2**63 - 1


class AgentBriefSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="display_name")
    initials = serializers.CharField()
    color = serializers.CharField(source="avatar_color")

    class Meta:
        model = Agent
        fields = ["id", "name", "initials", "color", "status"]


class AgentVisitorBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(source="display_name")
    email = serializers.EmailField(allow_blank=True)
    identity_verified = serializers.BooleanField()


class AgentVisitorDetailSerializer(AgentVisitorBriefSerializer):
    external_id = serializers.CharField(allow_blank=True)
    page_url = serializers.CharField(allow_blank=True)
    referrer = serializers.CharField(allow_blank=True)
    user_agent = serializers.CharField(allow_blank=True)
    browser = serializers.SerializerMethodField()
    language = serializers.CharField(allow_blank=True)
    location = serializers.CharField(allow_blank=True)
    ip_address = serializers.IPAddressField(allow_null=True)
    attributes = serializers.DictField()
    created_at = serializers.DateTimeField()
    last_seen_at = serializers.DateTimeField()

    def get_browser(self, visitor) -> str:
        return visitor_details(visitor=visitor)["browser"]


class AgentCsatSerializer(serializers.Serializer):
    rating = serializers.IntegerField(min_value=1, max_value=5)
    comment = serializers.CharField(allow_blank=True)
    submitted_at = serializers.DateTimeField()


class AgentConversationSerializer(serializers.ModelSerializer):
    site_name = serializers.CharField(source="site.name")
    visitor = AgentVisitorBriefSerializer()
    assigned_agent = AgentBriefSerializer(allow_null=True)
    csat = serializers.SerializerMethodField()
    unread = serializers.IntegerField(help_text="Visitor messages no agent has read yet.")

    class Meta:
        model = Conversation
        fields = [
            "id",
            "site",
            "site_name",
            "state",
            "visitor",
            "assigned_agent",
            "escalation_reason",
            "waiting_since",
            "last_activity_at",
            "created_at",
            "closed_at",
            "csat",
            "unread",
        ]

    @extend_schema_field(AgentCsatSerializer(allow_null=True))
    def get_csat(self, conversation: Conversation) -> dict | None:
        if conversation.csat_rating is None or conversation.csat_submitted_at is None:
            return None
        return AgentCsatSerializer(
            {
                "rating": conversation.csat_rating,
                "comment": conversation.csat_comment,
                "submitted_at": conversation.csat_submitted_at,
            }
        ).data


class AgentConversationDetailSerializer(AgentConversationSerializer):
    visitor = AgentVisitorDetailSerializer()

    class Meta(AgentConversationSerializer.Meta):
        fields = [
            *AgentConversationSerializer.Meta.fields,
            "human_needed_at",
            "human_needed_reason",
        ]


class KbEntryBriefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    question = serializers.CharField()


class AgentMessageSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author_kind")
    agent = AgentBriefSerializer(allow_null=True)
    kb_entry = KbEntryBriefSerializer(allow_null=True)
    attachments = serializers.SerializerMethodField()

    @extend_schema_field(AttachmentSerializer(many=True))
    def get_attachments(self, message: Message) -> list[dict]:
        return [attachment_payload(a) for a in message.attachments.all()]

    class Meta:
        model = Message
        fields = [
            "id",
            "conversation",
            "author",
            "source",
            "agent",
            "text",
            "is_internal",
            "client_id",
            "kb_entry",
            "kb_score",
            "filter_action",
            "interrupted",
            "created_at",
            "attachments",
        ]
        extra_kwargs = {"is_internal": {"help_text": "An internal note: agents only."}}


class AgentConversationListQuerySerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=Conversation.State.values, required=False)
    site = serializers.IntegerField(min_value=1, max_value=ID_MAX, required=False)
    q = serializers.CharField(
        required=False, max_length=200, help_text="Visitor name or email, or message text."
    )
    assigned = serializers.ChoiceField(
        choices=["me"], required=False, help_text="`me`: only conversations assigned to you."
    )


class AgentMessagesQuerySerializer(serializers.Serializer):
    after = serializers.IntegerField(
        min_value=0, max_value=ID_MAX, default=0, help_text="Only messages with a larger id."
    )
    limit = serializers.IntegerField(min_value=1, max_value=500, default=100)


class AgentMessagePageSerializer(serializers.Serializer):
    results = AgentMessageSerializer(many=True)
    next_after = serializers.IntegerField(
        allow_null=True,
        help_text="More messages follow: pass this as `after`. null: you have them all.",
    )


class AgentReplySerializer(serializers.Serializer):
    text = serializers.CharField(
        max_length=settings.MAX_MESSAGE_LENGTH,
        help_text="Leading and trailing whitespace is removed.",
    )
    internal = serializers.BooleanField(
        default=False, help_text="true: an internal note only agents see; the state is kept."
    )
    client_id = serializers.CharField(
        required=False,
        min_length=1,
        max_length=64,
        help_text="Your id for this message: resending the same id returns the first message "
        "instead of posting it twice.",
    )

    def validate_text(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError(_("The message is empty."))
        return value
