import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from kb.models import SensitiveWord
from tests.factories import EntryFactory, SensitiveWordFactory, SiteFactory

pytestmark = pytest.mark.django_db


def test_entry_phrasings_are_question_then_alternatives():
    entry = EntryFactory(
        question="How long does shipping take?", alternatives="When will it arrive?\n\n 配送时间 "
    )
    assert entry.phrasings == ["How long does shipping take?", "When will it arrive?", "配送时间"]


def test_entry_question_is_unique_per_site_only():
    entry = EntryFactory(question="Same?")
    EntryFactory(question="Same?", site=SiteFactory())
    with pytest.raises(IntegrityError):
        EntryFactory(question="Same?", site=entry.site)


def test_sensitive_word_regex_is_validated():
    word = SensitiveWordFactory.build(word="(unclosed", is_regex=True)
    with pytest.raises(ValidationError, match="regular expression"):
        word.full_clean()
    SensitiveWordFactory.build(word="(unclosed", is_regex=False).full_clean()


def test_sensitive_word_is_global_or_per_site():
    global_word = SensitiveWordFactory(word="spam", action=SensitiveWord.Action.BLOCK)
    site_word = SensitiveWordFactory(word="spam", site=SiteFactory())
    assert global_word.site is None and site_word.site is not None
