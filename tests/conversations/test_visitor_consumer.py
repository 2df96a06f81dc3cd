"""The visitor socket, end to end through the real ASGI application (embedded defaults)."""

import asyncio

import pytest
from channels.db import database_sync_to_async

from conversations.models import Conversation, Message
from kb.models import SensitiveWord
from tests.conversations.conftest import open_visitor
from tests.factories import EntryFactory, SensitiveWordFactory, SiteFactory

pytestmark = pytest.mark.django_db(transaction=True)

DEMO_REPLY = "Our store ships worldwide and most parcels arrive within a week."


@pytest.fixture
def site(db):
    site = SiteFactory(allowed_origins="http://shop.test")
    EntryFactory(
        site=site,
        question="How long does shipping take?",
        answer="Orders arrive in 3-5 business days.",
        alternatives="When will my order arrive?",
    )
    EntryFactory(site=site, question="发货需要多长时间？", answer="3-5个工作日送达。")
    return site


def is_type(kind):
    return lambda event: event["type"] == kind


async def test_hello_issues_a_token_and_welcome_matches_the_protocol(site, visitor_factory, no_llm):
    visitor = await visitor_factory(site)
    welcome = await visitor.hello(language="en")
    assert welcome["type"] == "welcome"
    assert welcome["conversation"] is None and welcome["previous"] == []
    assert welcome["greeting"] == site.greeting
    assert welcome["token"]


async def test_frames_before_hello_get_an_error_and_the_socket_stays_open(site, visitor_factory):
    visitor = await visitor_factory(site)
    await visitor.send({"type": "message", "client_id": "x", "text": "hi"})
    error = await visitor.receive()
    assert error["type"] == "error" and error["code"] == "hello_required"
    assert (await visitor.hello())["type"] == "welcome"


async def test_kb_question_is_answered_at_once_with_the_entry(site, visitor_factory):
    visitor = await visitor_factory(site)
    await visitor.hello()
    ack = await visitor.say("how long does shipping take")
    assert ack["type"] == "ack" and ack["text"] == "how long does shipping take"
    events = await visitor.receive_until(
        lambda e: e["type"] == "message" and e["message"]["author"] == "bot"
    )
    answer = events[-1]["message"]
    assert answer["source"] == "kb" and answer["text"] == "Orders arrive in 3-5 business days."
    saved = await database_sync_to_async(Message.objects.get)(pk=answer["id"])
    assert saved.kb_entry_id == answer["kb_entry_id"] and saved.kb_entry_id is not None


async def test_chinese_kb_question_is_matched(site, visitor_factory):
    visitor = await visitor_factory(site)
    await visitor.hello(language="zh-CN")
    await visitor.say("发货需要多长时间")
    events = await visitor.receive_until(
        lambda e: e["type"] == "message" and e["message"]["author"] == "bot"
    )
    assert events[-1]["message"]["text"] == "3-5个工作日送达。"


async def test_llm_reply_streams_in_order_and_is_saved_whole(site, visitor_factory, fake_llm):
    fake_llm.configure(reply=DEMO_REPLY, tokens_per_second=50)  # paced: one frame a piece
    visitor = await visitor_factory(site)
    await visitor.hello()
    await visitor.say("Do you sell gift wrapping for birthdays?")
    events = await visitor.receive_until(is_type("reply.end"))
    starts = [e for e in events if e["type"] == "reply.start"]
    deltas = [e for e in events if e["type"] == "reply.delta"]
    assert len(starts) == 1 and len(deltas) >= 3
    assert [d["seq"] for d in deltas] == list(range(len(deltas)))
    end = events[-1]
    assert end["message"]["text"] == "".join(d["text"] for d in deltas) == DEMO_REPLY
    assert end["message"]["source"] == "llm"
    saved = await database_sync_to_async(Message.objects.get)(pk=end["message"]["id"])
    assert saved.text == DEMO_REPLY and saved.completion_tokens and saved.latency_ms is not None


async def test_reconnect_replays_what_was_missed_and_resumes_the_conversation(
    site, visitor_factory
):
    first = await visitor_factory(site)
    token = (await first.hello())["token"]
    ack = await first.say("how long does shipping take")
    await first.receive_until(lambda e: e["type"] == "message" and e["message"]["author"] == "bot")
    await first.close()

    again = await visitor_factory(site)
    welcome = await again.hello(token=token, last_seen_id=0)
    assert welcome["conversation"]["id"] == ack["conversation_id"]
    replayed = await again.receive_until(is_type("state"))
    texts = [e["message"]["text"] for e in replayed if e["type"] == "message"]
    assert texts == ["how long does shipping take", "Orders arrive in 3-5 business days."]

    later = await visitor_factory(site)
    await later.hello(token=token, last_seen_id=ack["message_id"])
    replayed = await later.receive_until(is_type("state"))
    assert [e["message"]["author"] for e in replayed if e["type"] == "message"] == ["bot"]


async def test_resending_a_client_id_is_acked_again_but_saved_once(site, visitor_factory):
    visitor = await visitor_factory(site)
    await visitor.hello()
    first = await visitor.say("how long does shipping take", client_id="same-id")
    await visitor.receive_until(
        lambda e: e["type"] == "message" and e["message"]["author"] == "bot"
    )
    second = await visitor.say("how long does shipping take", client_id="same-id")
    assert second["message_id"] == first["message_id"]
    count = await database_sync_to_async(Message.objects.filter(client_id="same-id").count)()
    assert count == 1
    assert await visitor.no_reply_follows(), "a resend must not be answered twice"


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "invalid_json"),
        ("[1, 2]", "invalid_frame"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"type": "message", "client_id": "a"}', "invalid_field"),
        ('{"type": "message", "client_id": "a", "text": "   "}', "empty"),
        ('{"type": "message", "client_id": 5, "text": "hi"}', "invalid_field"),
        ('{"type": "seen", "message_id": "nope"}', "invalid_field"),
    ],
)
async def test_invalid_frames_get_an_error_without_closing_or_losing_state(
    site, visitor_factory, frame, code
):
    visitor = await visitor_factory(site)
    await visitor.hello()
    ack = await visitor.say("how long does shipping take")
    await visitor.receive_until(
        lambda e: e["type"] == "message" and e["message"]["author"] == "bot"
    )
    await visitor.communicator.send_to(text_data=frame)
    error = await visitor.receive()
    assert error["type"] == "error" and error["code"] == code
    await visitor.send({"type": "ping"})
    assert (await visitor.receive())["type"] == "pong"
    count = await database_sync_to_async(
        Message.objects.filter(conversation_id=ack["conversation_id"]).count
    )()
    assert count == 2


async def test_oversize_text_is_refused_with_its_client_id(site, visitor_factory, settings):
    settings.MAX_MESSAGE_LENGTH = 50
    visitor = await visitor_factory(site)
    await visitor.hello()
    error = await visitor.say("x" * 51, client_id="big")
    assert error == {
        "type": "error",
        "code": "too_long",
        "detail": error["detail"],
        "client_id": "big",
    }
    assert await database_sync_to_async(Message.objects.count)() == 0


@pytest.mark.parametrize(
    ("origin", "page_origin"),
    [
        ("http://evil.test", "http://shop.test"),  # socket from a page that is not allowed
        ("http://helpdesk.test", "http://evil.test"),  # our iframe embedded by a stranger
        ("http://shop.test", "http://evil.test"),
        ("", "http://shop.test"),
    ],
)
async def test_origins_not_allowed_by_the_site_are_refused(
    site, transactional_db, origin, page_origin
):
    _client, connected, code = await open_visitor(site, origin=origin, page_origin=page_origin)
    assert not connected and code == 4403


async def test_unknown_site_key_is_refused(transactional_db):
    site = await database_sync_to_async(SiteFactory.build)(public_key="nope")
    _client, connected, code = await open_visitor(site)
    assert not connected and code == 4403


async def test_own_origin_iframe_and_allowed_custom_client_are_accepted(site, visitor_factory):
    await visitor_factory(site, origin="http://helpdesk.test", page_origin="http://shop.test")
    await visitor_factory(site, origin="http://shop.test", page_origin="http://shop.test")


async def test_token_from_another_site_is_rejected_and_a_new_visitor_started(site, visitor_factory):
    other = await database_sync_to_async(SiteFactory)(allowed_origins="http://shop.test")
    stranger = await visitor_factory(other)
    foreign_token = (await stranger.hello())["token"]
    visitor = await visitor_factory(site)
    await visitor.send({"type": "hello", "token": foreign_token})
    error = await visitor.receive()
    assert error["type"] == "error" and error["code"] == "invalid_token"
    welcome = await visitor.receive()
    assert welcome["type"] == "welcome" and welcome["token"] != foreign_token


async def test_history_of_someone_elses_conversation_is_not_found(site, visitor_factory):
    owner = await visitor_factory(site)
    await owner.hello()
    ack = await owner.say("how long does shipping take")
    intruder = await visitor_factory(site)
    await intruder.hello()
    await intruder.send({"type": "history", "conversation_id": ack["conversation_id"]})
    error = await intruder.receive()
    assert error["type"] == "error" and error["code"] == "not_found"


async def test_sensitive_words_mask_block_and_escalate(site, visitor_factory, fake_llm):
    # A working LLM: the only way to `waiting` here is the escalate word.
    await database_sync_to_async(SensitiveWordFactory)(
        word="idiot", action=SensitiveWord.Action.MASK
    )
    await database_sync_to_async(SensitiveWordFactory)(
        word="傻瓜", action=SensitiveWord.Action.MASK
    )
    await database_sync_to_async(SensitiveWordFactory)(
        word="card number", action=SensitiveWord.Action.BLOCK
    )
    await database_sync_to_async(SensitiveWordFactory)(
        word="lawyer", action=SensitiveWord.Action.ESCALATE
    )
    visitor = await visitor_factory(site)
    await visitor.hello()

    masked = await visitor.say("you IDIOT, 你这个傻瓜")
    assert masked["text"] == "you *****, 你这个**"

    blocked = await visitor.say("here is my card number 4111")
    assert "4111" not in blocked["text"]
    events = await visitor.receive_until(
        lambda e: e["type"] == "message" and e["message"]["source"] == "filter"
    )
    assert events[-1]["message"]["author"] == "bot"

    await visitor.say("I will call my lawyer")
    events = await visitor.receive_until(is_type("state"))
    assert events[-1]["state"] == "waiting"
    conversation = await database_sync_to_async(Conversation.objects.get)(
        pk=masked["conversation_id"]
    )
    assert conversation.state == "waiting" and conversation.escalation_reason == "sensitive word"


async def test_waiting_conversation_gets_no_bot_reply(site, visitor_factory, fake_llm):
    visitor = await visitor_factory(site)
    await visitor.hello()
    await visitor.say("how long does shipping take")
    await visitor.receive_until(
        lambda e: e["type"] == "message" and e["message"]["author"] == "bot"
    )
    await visitor.send({"type": "human.request"})
    events = await visitor.receive_until(
        lambda e: e["type"] == "message" and e["message"]["author"] == "system"
    )
    assert [e["state"] for e in events if e["type"] == "state"] == ["waiting"]
    await visitor.say("how long does shipping take")
    assert await visitor.no_reply_follows()
    assert fake_llm.requests == []


async def test_no_llm_configured_gives_a_polite_fallback_and_waits_for_a_human(
    site, visitor_factory, no_llm
):
    visitor = await visitor_factory(site)
    await visitor.hello(language="zh-CN")
    await visitor.say("Can I pay with bitcoin?")
    events = await visitor.receive_until(is_type("reply.end"))
    fallback = events[-1]["message"]
    assert fallback["author"] == "bot" and "同事" in fallback["text"]
    state = await visitor.receive_until(is_type("state"))
    assert state[-1]["state"] == "waiting"


async def test_message_mid_stream_interrupts_the_reply_and_is_answered_next(
    site, visitor_factory, fake_llm
):
    fake_llm.configure(
        reply="one two three four five six seven eight nine ten", tokens_per_second=10
    )
    visitor = await visitor_factory(site)
    await visitor.hello()
    await visitor.say("Tell me about your company history please")
    events = await visitor.receive_until(is_type("reply.delta"))
    first_reply = events[-1]["reply_id"]
    fake_llm.configure(tokens_per_second=0, reply="Second answer.")
    await visitor.say("Actually, what about gift cards for teachers?")
    events = await visitor.receive_until(
        lambda e: e["type"] == "reply.end" and e["reply_id"] != first_reply, timeout=15
    )
    ends = {e["reply_id"]: e for e in events if e["type"] == "reply.end"}
    interrupted = ends[first_reply]["message"]
    assert interrupted is not None and interrupted["interrupted"] is True
    assert interrupted["text"] and "ten" not in interrupted["text"]
    final = next(e for rid, e in ends.items() if rid != first_reply)["message"]
    assert final["text"] == "Second answer." and not final["interrupted"]


async def test_expired_conversation_starts_a_new_one_but_lists_the_old(
    site, visitor_factory, no_llm
):
    from conversations.services import conversations_close_idle

    visitor = await visitor_factory(site)
    token = (await visitor.hello())["token"]
    ack = await visitor.say("how long does shipping take")
    await visitor.receive_until(
        lambda e: e["type"] == "message" and e["message"]["author"] == "bot"
    )
    await database_sync_to_async(Conversation.objects.filter(pk=ack["conversation_id"]).update)(
        last_activity_at="2000-01-01T00:00:00Z"
    )
    closed = await database_sync_to_async(conversations_close_idle)()
    assert closed == [ack["conversation_id"]]
    state = await visitor.receive_until(is_type("state"))
    assert state[-1]["state"] == "closed"

    again = await visitor_factory(site)
    welcome = await again.hello(token=token)
    assert welcome["conversation"] is None
    assert [c["id"] for c in welcome["previous"]] == [ack["conversation_id"]]
    assert welcome["previous"][0]["preview"] == "how long does shipping take"
    new_ack = await again.say("hello again")
    assert new_ack["conversation_id"] != ack["conversation_id"]
    # The no-LLM fallback writes in a task of its own: the test ends after it, not
    # during it (the database's flush would race with its writes).
    await again.receive_until(is_type("state"))
    await again.send({"type": "history", "conversation_id": ack["conversation_id"]})
    history = await again.receive_until(is_type("history"))
    assert len(history[-1]["messages"]) == 2
    await asyncio.sleep(0)


async def test_visitor_details_come_from_hello_and_headers(site, transactional_db):
    from channels.testing import WebsocketCommunicator

    from conversations.models import Visitor
    from helpdesk.asgi import application
    from tests.conversations.conftest import VisitorClient

    communicator = WebsocketCommunicator(
        application,
        f"/ws/visitor/?site={site.public_key}&origin=http://shop.test",
        headers=[
            (b"origin", b"http://shop.test"),
            (b"host", b"helpdesk.test"),
            (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36"),
            (b"cf-ipcountry", b"NO"),
            (b"cf-ipcity", b"Oslo"),
        ],
    )
    connected, _ = await communicator.connect()
    assert connected
    visitor = VisitorClient(communicator)
    welcome = await visitor.hello(
        language="nb-NO", page={"url": "http://shop.test/boots", "referrer": "https://search.test/"}
    )
    saved = await database_sync_to_async(Visitor.objects.get)(anonymous_id=welcome["visitor_id"])
    assert saved.location == "Oslo, NO" and saved.language == "nb-NO"
    assert saved.page_url == "http://shop.test/boots" and saved.referrer == "https://search.test/"
    assert "Chrome/126.0" in saved.user_agent
    await visitor.close()


async def test_identify_is_stored_as_unverified(site, visitor_factory):
    from conversations.models import Visitor

    visitor = await visitor_factory(site)
    welcome = await visitor.hello()
    await visitor.send(
        {
            "type": "identify",
            "user_id": "u-42",
            "email": "ada@example.com",
            "name": "Ada",
            "user_hash": "not-checked-yet",
            "attributes": {"plan": "pro"},
        }
    )
    await visitor.send({"type": "ping"})
    assert (await visitor.receive())["type"] == "pong"
    saved = await database_sync_to_async(Visitor.objects.get)(anonymous_id=welcome["visitor_id"])
    assert (saved.external_id, saved.email, saved.name) == ("u-42", "ada@example.com", "Ada")
    assert saved.attributes == {"plan": "pro"} and saved.identity_verified is False
