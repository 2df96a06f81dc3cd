"""What the KB API reads and writes: entries, and the sync a CMS sends."""

from django.utils.translation import gettext as _
from rest_framework import serializers

from helpdesk.models import Site
from kb.csv_io import QUESTION_MAX_LENGTH
from kb.models import Entry

ID_MAX = 2**63 - 1
ANSWER_MAX_LENGTH = 20_000
ALTERNATIVES_MAX = 100
TAGS_MAX = 20
SYNC_ENTRIES_MAX = 2000


class TagNamesField(serializers.ListField):
    """Tags by name; a name not used yet creates the tag."""

    child = serializers.CharField(max_length=60, allow_blank=True)

    def to_representation(self, tags) -> list[str]:
        return [tag.name for tag in tags.all()]


class AlternativesField(serializers.ListField):
    child = serializers.CharField(max_length=QUESTION_MAX_LENGTH, allow_blank=True)

    def to_representation(self, alternatives: str) -> list[str]:
        return [line.strip() for line in alternatives.splitlines() if line.strip()]


class SiteField(serializers.IntegerField):
    """A site by id; validate_site on the serializer turns it into the Site."""

    def __init__(self, **kwargs) -> None:
        super().__init__(min_value=1, max_value=ID_MAX, **kwargs)

    def to_representation(self, site) -> int:
        return site.pk


def visible_site(*, site_id: int, site_ids: list[int]) -> Site:
    site = Site.objects.filter(pk=site_id).first() if site_id in site_ids else None
    if site is None:
        raise serializers.ValidationError(_("No such site."))
    return site


class KbEntrySerializer(serializers.ModelSerializer):
    site = SiteField(help_text="The site (widget) the entry belongs to; fixed once created.")
    question = serializers.CharField(
        max_length=QUESTION_MAX_LENGTH, help_text="Unique within the site; the sync's key."
    )
    answer = serializers.CharField(max_length=ANSWER_MAX_LENGTH)
    alternatives = AlternativesField(
        required=False,
        max_length=ALTERNATIVES_MAX,
        help_text="Other ways visitors ask the question.",
    )
    tags = TagNamesField(required=False, max_length=TAGS_MAX)
    enabled = serializers.BooleanField(
        required=False, help_text="false: kept, but the bot does not use it. Default true."
    )

    class Meta:
        model = Entry
        fields = [
            "id",
            "site",
            "question",
            "answer",
            "alternatives",
            "tags",
            "enabled",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]
        # Uniqueness is checked in validate() with a message naming the question.
        validators: list = []

    def validate_site(self, site_id: int) -> Site:
        site = visible_site(site_id=site_id, site_ids=self.context["site_ids"])
        if self.instance is not None and site.pk != self.instance.site_id:
            raise serializers.ValidationError(_("An entry cannot move to another site."))
        return site

    def validate(self, attrs: dict) -> dict:
        site = attrs.get("site") or (self.instance.site if self.instance else None)
        question = attrs.get("question")
        if site is not None and question is not None:
            taken = Entry.objects.filter(site=site, question=question)
            if self.instance is not None:
                taken = taken.exclude(pk=self.instance.pk)
            if taken.exists():
                raise serializers.ValidationError(
                    {"question": _("This site already has an entry with this question.")}
                )
        return attrs


class KbEntryListQuerySerializer(serializers.Serializer):
    site = serializers.IntegerField(min_value=1, max_value=ID_MAX, required=False)
    q = serializers.CharField(
        required=False, max_length=200, help_text="In the question, alternatives or answer."
    )


class KbSyncEntrySerializer(serializers.Serializer):
    question = serializers.CharField(max_length=QUESTION_MAX_LENGTH)
    answer = serializers.CharField(max_length=ANSWER_MAX_LENGTH)
    alternatives = serializers.ListField(
        child=serializers.CharField(max_length=QUESTION_MAX_LENGTH, allow_blank=True),
        required=False,
        default=list,
        max_length=ALTERNATIVES_MAX,
    )
    tags = serializers.ListField(
        child=serializers.CharField(max_length=60, allow_blank=True),
        required=False,
        max_length=TAGS_MAX,
        help_text="Omitted: an existing entry keeps its tags.",
    )
    enabled = serializers.BooleanField(
        required=False, help_text="Omitted: an existing entry keeps its state; a new one is on."
    )


class KbSyncRequestSerializer(serializers.Serializer):
    site = SiteField(help_text="The site whose entries are synced.")
    entries = KbSyncEntrySerializer(many=True, max_length=SYNC_ENTRIES_MAX)
    delete_missing = serializers.BooleanField(
        default=False,
        help_text="true: delete the site's entries whose question is not in `entries`.",
    )

    def validate_site(self, site_id: int) -> Site:
        return visible_site(site_id=site_id, site_ids=self.context["site_ids"])

    def validate_entries(self, entries: list[dict]) -> list[dict]:
        # Keyed by row index, the shape DRF gives the rows' own field errors.
        first: dict[str, int] = {}
        errors: dict[int, dict] = {}
        for position, entry in enumerate(entries):
            question = entry["question"]
            if question in first:
                errors[position] = {
                    "question": [_("Repeats entry %(n)s.") % {"n": first[question]}]
                }
            else:
                first[question] = position
        if errors:
            raise serializers.ValidationError(errors)
        return entries


class KbSyncedEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    question = serializers.CharField()
    status = serializers.ChoiceField(choices=["created", "updated", "unchanged"])


class KbSyncResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    deleted = serializers.IntegerField()
    entries = KbSyncedEntrySerializer(many=True, help_text="In the order they were sent.")
    deleted_questions = serializers.ListField(child=serializers.CharField())
