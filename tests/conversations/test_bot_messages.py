"""The bot's fixed messages: built-in wording from the catalogues, a Site's own wording."""

import pytest

from conversations.bot_messages import TEXTS, bot_text
from conversations.models import Message
from conversations.pipeline import human_request
from tests.factories import ConversationFactory, SiteFactory, VisitorFactory


@pytest.mark.parametrize("key", sorted(TEXTS))
def test_every_built_in_message_has_a_chinese_translation(key):
    english = bot_text(key, language="en")
    chinese = bot_text(key, language="zh-CN")
    assert english and chinese and english != chinese
    assert not any("a" <= ch.lower() <= "z" for ch in chinese.replace("{hours}", ""))
    assert ("{hours}" in english) == ("{hours}" in chinese)


def test_language_tags_pick_the_language():
    zh = bot_text("human_requested", language="zh")
    assert bot_text("human_requested", language="zh-Hant-TW") == zh
    assert bot_text("human_requested", language="ZH-cn") == zh
    assert bot_text("human_requested", language="") == bot_text("human_requested", language="fr")


@pytest.mark.django_db
def test_a_site_words_fallback_and_offline_itself_in_each_language():
    site = SiteFactory(
        fallback_message="One moment, a human will answer.",
        offline_message_zh="我们下班了{hours}，请留下邮箱。",
    )
    assert bot_text("fallback", language="en", site=site) == "One moment, a human will answer."
    # Blank in a language: the built-in sentence, not the other language's.
    assert bot_text("fallback", language="zh", site=site) == bot_text("fallback", language="zh")
    assert bot_text("offline", language="zh", site=site, hours="（9-17）") == (
        "我们下班了（9-17），请留下邮箱。"
    )
    # Only fallback and offline are per Site: the rest keep the built-in text.
    assert bot_text("blocked", language="en", site=site) == bot_text("blocked", language="en")


@pytest.mark.django_db
def test_a_site_wording_without_the_placeholder_or_with_other_braces_is_sent_as_written():
    site = SiteFactory(offline_message="We're out {back soon}.")
    assert bot_text("offline", language="en", site=site, hours="; Mon") == "We're out {back soon}."


@pytest.mark.django_db
def test_the_offline_notice_uses_the_sites_wording_and_hours_in_the_visitors_language():
    site = SiteFactory(offline_message_zh="客服已下线{hours}。")
    conversation = ConversationFactory(site=site, visitor=VisitorFactory(site=site))
    human_request(conversation_id=conversation.pk, language="zh-CN")
    notice = Message.objects.get(conversation=conversation, author_kind="system")
    assert notice.text == "客服已下线（工作时间：周一-周五 09:00-17:00 (UTC)）。"
