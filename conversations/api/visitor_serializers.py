"""What the visitor API reads and writes; the answers have the socket's JSON shapes
(conversations/events/ builds them), described here for the OpenAPI schema."""

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from conversations.models import Conversation, Message

# PostgreSQL bigint: larger ids cannot exist, and would fail the query instead of matching none.
ID_MAX = 2**63 - 1
PAGE_DEFAULT = 50
PAGE_MAX = 200
ATTRIBUTES_MAX = 50


# --- requests ---------------------------------------------------------------------------


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates (\ud800) that no database can store
        return False
    return True


class StrictCharField(serializers.CharField):
    """A JSON string, as the socket requires: 5 or true is refused, not turned into "5"."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class VisitorCreateSerializer(serializers.Serializer):
    """What the widget's `hello` and `identify` carry; every field is optional."""

    name = StrictCharField(required=False, allow_blank=True, max_length=200)
    email = serializers.EmailField(required=False, allow_blank=True, max_length=254)
    language = StrictCharField(
        required=False, allow_blank=True, max_length=35, help_text="e.g. `en`, `zh-Hans`."
    )
    page_url = StrictCharField(required=False, allow_blank=True, max_length=2000)
    referrer = StrictCharField(required=False, allow_blank=True, max_length=2000)
    user_id = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text="Your own id for this person (as `Helpdesk.identify`).",
    )
    user_hash = serializers.RegexField(
        r"^[0-9a-fA-F]*$",
        required=False,
        allow_blank=True,
        max_length=128,
        help_text="HMAC-SHA256(user_id) keyed with the Site's identity secret, hex: verifies "
        "the identity, and a verified person seen before continues as that visitor.",
    )
    attributes = serializers.DictField(
        child=StrictCharField(max_length=500, allow_blank=True),
        required=False,
        help_text=f"Up to {ATTRIBUTES_MAX} string attributes shown to agents.",
    )

    def validate_attributes(self, value: dict) -> dict:
        if len(value) > ATTRIBUTES_MAX:
            raise serializers.ValidationError(
                _("At most %(count)s attributes.") % {"count": ATTRIBUTES_MAX}
            )
        for key in value:
            # Values are checked by their field; names too must be storable text.
            if not key or len(key) > 100 or "\x00" in key or not _is_unicode(key):
                raise serializers.ValidationError(
                    _("Attribute names are 1-100 characters of text.")
                )
        return value


class MessageCreateSerializer(serializers.Serializer):
    client_id = StrictCharField(
        min_length=1,
        max_length=64,
        trim_whitespace=False,
        help_text="Unique per message: a retry with the same id returns the saved message "
        "(200) instead of saving it again.",
    )
    text = StrictCharField(max_length=settings.MAX_MESSAGE_LENGTH, required=False, default="")
    attachments = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=ID_MAX),
        required=False,
        default=list,
        max_length=10,
        help_text="Ids of files uploaded with POST .../attachments and not sent yet.",
    )

    def validate(self, attrs: dict) -> dict:
        if not attrs["text"].strip() and not attrs["attachments"]:
            raise serializers.ValidationError({"text": _("Send some text or a file.")})
        return attrs


class AttachmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    type = serializers.CharField(help_text="Detected from the content, not the name.")
    size = serializers.IntegerField()
    width = serializers.IntegerField(allow_null=True)
    height = serializers.IntegerField(allow_null=True)
    url = serializers.CharField(help_text="Signed: opens the file for about an hour.")


class AttachmentUploadSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True)


class MessagesQuerySerializer(serializers.Serializer):
    after = serializers.IntegerField(
        required=False,
        default=0,
        min_value=0,
        max_value=ID_MAX,
        help_text="Only messages with a larger id.",
    )
    limit = serializers.IntegerField(
        required=False, default=PAGE_DEFAULT, min_value=1, max_value=PAGE_MAX
    )
    conversation = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=ID_MAX,
        help_text="One of this visitor's conversations (default: the current one).",
    )


# --- answers (the socket's shapes) --------------------------------------------------------


class MessageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    conversation_id = serializers.IntegerField()
    author = serializers.ChoiceField(choices=Message.Author.choices)
    agent_name = serializers.CharField(allow_null=True)
    text = serializers.CharField(allow_blank=True)
    source = serializers.ChoiceField(choices=Message.Source.choices)
    kb_entry_id = serializers.IntegerField(allow_null=True)
    client_id = serializers.CharField(allow_blank=True)
    interrupted = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    attachments = AttachmentSerializer(many=True)


class VisitorSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="anonymous_id", help_text="The visitor's anonymous id.")
    name = serializers.CharField(allow_blank=True)
    email = serializers.CharField(allow_blank=True)
    language = serializers.CharField(allow_blank=True)
    external_id = serializers.CharField(allow_blank=True)
    identity_verified = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class VisitorSessionSerializer(serializers.Serializer):
    visitor_token = serializers.CharField(
        help_text="Keep it: `Authorization: Bearer <visitor_token>` on every other call."
    )
    visitor = VisitorSerializer()


class ConversationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.ChoiceField(choices=Conversation.State.choices)
    created_at = serializers.DateTimeField()


class ConversationSummarySerializer(ConversationSerializer):
    closed_at = serializers.DateTimeField(allow_null=True)
    preview = serializers.CharField(allow_blank=True)


class SiteBriefSerializer(serializers.Serializer):
    name = serializers.CharField()
    color = serializers.CharField()
    position = serializers.ChoiceField(choices=["right", "left"])


class CurrentConversationSerializer(serializers.Serializer):
    conversation = ConversationSerializer(
        allow_null=True,
        help_text="The open conversation; null until the visitor's first message opens one.",
    )
    greeting = serializers.CharField(allow_blank=True)
    previous = ConversationSummarySerializer(many=True)
    site = SiteBriefSerializer()


class MessagePageSerializer(serializers.Serializer):
    conversation = ConversationSerializer(allow_null=True)
    messages = MessageSerializer(many=True)
    has_more = serializers.BooleanField(help_text="Ask again with `after` = the last id.")


class HumanRequestedSerializer(serializers.Serializer):
    conversation = ConversationSerializer()
