"""Issue 6, fuzzing: random and malformed frames at both sockets.

Properties, for every frame the protocol says must be refused: the socket stays open, the
frame is answered by exactly one `error` (no `server_error`: a crash is not a refusal), and
afterwards a normal message is still acked and the database holds exactly the acked
messages. Hypothesis drives a sync test that runs each example's socket with async_to_sync
(pytest-asyncio cannot run an async @given test).
"""

import json
import uuid

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conversations.consumers.frames import MAX_FRAME_BYTES
from conversations.models import Message
from tests.conversations.conftest import open_agent, open_visitor
from tests.factories import SiteFactory, StaffUserFactory

pytestmark = pytest.mark.django_db(transaction=True)

FUZZ = settings(
    max_examples=40,
    deadline=None,
    database=None,  # no .hypothesis/ folder in the checkout
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PLACEHOLDER = '"__FUZZ_VALUE__"'
MAX_MESSAGE_LENGTH = 4000


@pytest.fixture
def site(db, settings):
    # Abuse limits would turn the flood below into `rate_limited`; they have their own tests.
    settings.VISITOR_MESSAGES_PER_MINUTE = 0
    settings.IP_MESSAGES_PER_MINUTE = 0
    settings.IP_CONNECTIONS_PER_MINUTE = 0
    settings.MAX_MESSAGE_LENGTH = MAX_MESSAGE_LENGTH
    settings.OPENAI_BASE_URL = None
    settings.OPENAI_API_KEY = ""
    return SiteFactory(allowed_origins="http://shop.test")


# --- raw values ----------------------------------------------------------------------------

HUGE_NUMBER_LITERALS = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "-1e400",
    "1" + "0" * 5000,  # more digits than Python's int parser allows
    "9" * 40,
    str(2**62 + 1),
    "-1",
    "0.5",
    "1e2",
    "-0",
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)


def raw(value) -> str:
    return json.dumps(value, ensure_ascii=True)  # lone surrogates travel as \\ud800


non_string = st.one_of(
    st.sampled_from([*HUGE_NUMBER_LITERALS, "true", "false", "[]", "{}", '[""]', '{"a": "b"}']),
    st.integers().map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(raw),
    st.lists(json_values, max_size=3).map(raw),
    st.dictionaries(st.text(max_size=5), json_values, max_size=3).map(raw),
)
not_an_id = st.one_of(
    st.sampled_from(
        [*HUGE_NUMBER_LITERALS, "true", "false", "null", "[]", "{}", '"12"', '"1e3"', "1.0"]
    ),
    st.integers(max_value=-1).map(str),
    st.integers(min_value=2**62 + 1).map(str),
    st.floats()
    .filter(lambda f: f != int(f) if f == f and abs(f) != float("inf") else True)
    .map(lambda f: "NaN" if f != f else raw(f)),
    st.text(max_size=10).map(raw),
    st.lists(st.integers(), max_size=3).map(raw),
)
SURROGATE_TEXTS = ["\ud800", "ok \udfff ok", "\ud83d", "a\udc00b"]
oversized = st.integers(min_value=1, max_value=2000).map(lambda n: "x" * (MAX_FRAME_BYTES + n))


def bad_string(*, required: bool, max_length: int, min_length: int = 0) -> st.SearchStrategy:
    """Raw JSON for a string field that must be refused."""
    options = [non_string, oversized.map(raw), st.just(raw("y" * (max_length + 1)))]
    if required:
        options.append(st.just("null"))
    if min_length:
        options.append(st.just(raw("")))
    return st.one_of(*options)


# (frame type, field, strategy of raw bad values, the rest of a valid frame)
VISITOR_FIELDS = [
    (
        "message",
        "client_id",
        bad_string(required=True, max_length=64, min_length=1),
        {"text": "hi"},
    ),
    (
        "message",
        "text",
        st.one_of(
            bad_string(required=True, max_length=MAX_MESSAGE_LENGTH),
            st.sampled_from([raw(""), raw("   \n\t "), *map(raw, SURROGATE_TEXTS)]),
        ),
        {"client_id": "fuzz-text"},
    ),
    ("seen", "message_id", not_an_id, {}),
    ("history", "conversation_id", not_an_id, {}),
    ("typing", "text", bad_string(required=False, max_length=4000), {"active": True}),
    ("hello", "token", bad_string(required=False, max_length=1000), {}),
    ("hello", "language", bad_string(required=False, max_length=35), {}),
]
VISITOR_TYPES = {"hello", "message", "typing", "seen", "human.request", "identify", "history"}
AGENT_TYPES = {
    "takeover",
    "handback",
    "close",
    "transfer",
    "reply",
    "note",
    "typing",
    "read",
    "suggest",
    "status",
    "watch",
    "unwatch",
}


def with_bad_field(kind: str, name: str, bad: str, rest: dict) -> str:
    return raw({"type": kind, **rest, name: "__FUZZ_VALUE__"}).replace(PLACEHOLDER, bad)


def nested(depth: int, *, closed: bool, inside: str | None) -> str:
    body = "[" * depth + ("]" * depth if closed else "")
    if inside is None:
        return body
    return raw({"type": inside, "client_id": "deep", "text": "__FUZZ_VALUE__"}).replace(
        PLACEHOLDER, body
    )


def is_known_frame(text: str, known: set[str]) -> bool:
    try:
        frame = json.loads(text)
    except (ValueError, RecursionError):
        return False
    kind = frame.get("type") if isinstance(frame, dict) else None
    return isinstance(kind, str) and kind in known | {"ping"}


def malformed_frames(known: set[str]) -> st.SearchStrategy:
    """Frames wrong before any field is read; each is ("text" | "bytes", payload)."""
    text = st.one_of(
        st.text(max_size=200),
        st.sampled_from(["", " ", "{", "}", '{"type"', "[", "nul", "{'type': 'ping'}", "\x00"]),
        json_values.filter(lambda v: not isinstance(v, dict)).map(raw),
        st.dictionaries(st.text(max_size=8), json_values, max_size=4).map(raw),
        json_values.map(lambda v: raw({"type": v})),
        st.text(min_size=1, max_size=60).map(lambda t: raw({"type": t})),
        st.sampled_from(SURROGATE_TEXTS).map(lambda t: raw({"type": t})),
        st.sampled_from(HUGE_NUMBER_LITERALS).map(lambda n: f'{{"type": {n}}}'),
        st.sampled_from(HUGE_NUMBER_LITERALS),
        oversized.map(lambda s: raw({"type": "ping", "pad": s})),
        oversized,
        st.builds(
            nested,
            st.sampled_from([1_000, 5_000, 10_000]),
            closed=st.booleans(),
            inside=st.sampled_from([None, "message"]),
        ),
    ).filter(lambda t: not is_known_frame(t, known))
    return st.one_of(
        text.map(lambda t: ("text", t)),
        st.binary(max_size=200).map(lambda b: ("bytes", b)),
    )


def field_frames(fields) -> st.SearchStrategy:
    return st.one_of(
        *(
            values.map(lambda bad, k=kind, n=name, r=rest: ("text", with_bad_field(k, n, bad, r)))
            for kind, name, values, rest in fields
        )
    )


visitor_bad_frames = st.lists(
    st.one_of(malformed_frames(VISITOR_TYPES), field_frames(VISITOR_FIELDS)),
    min_size=1,
    max_size=6,
)


async def send_raw(communicator, frame: tuple[str, object]) -> None:
    kind, payload = frame
    # send_to() refuses empty payloads; an empty frame is legal on the wire.
    await communicator.send_input({"type": "websocket.receive", kind: payload})


async def answers_until_pong(client) -> list[dict]:
    await client.send({"type": "ping"})
    frames = await client.receive_until(lambda e: e["type"] == "pong", timeout=10)
    return frames[:-1]


def describe(frame: tuple[str, object]) -> str:
    kind, payload = frame
    return f"{kind} frame {payload[:200]!r}{'...' if len(payload) > 200 else ''}"


# --- the visitor socket ----------------------------------------------------------------------


async def visitor_scenario(site, frames) -> None:
    client, connected, code = await open_visitor(site)
    assert connected, code
    try:
        welcome = await client.hello()
        first = await client.say("hello, fuzz starts")
        assert first["type"] == "ack", first
        await client.receive_until(lambda e: e["type"] == "state")  # the no-LLM fallback
        await client.drain(0.05)
        for frame in frames:
            await send_raw(client.communicator, frame)
            answers = await answers_until_pong(client)
            assert [a["type"] for a in answers] == ["error"], (describe(frame), answers)
            assert answers[0]["code"] != "server_error", (describe(frame), answers)
        last = await client.say("still there?", client_id=f"after-{uuid.uuid4()}")
        assert last["type"] == "ack", last
        assert last["conversation_id"] == first["conversation_id"]
        await client.send({"type": "hello", "token": welcome["token"]})
        again = (await client.receive_until(lambda e: e["type"] in ("welcome", "error")))[-1]
        assert again["type"] == "welcome" and again["visitor_id"] == welcome["visitor_id"]
        saved = await database_sync_to_async(
            lambda: list(
                Message.objects.filter(conversation__visitor__anonymous_id=welcome["visitor_id"])
                .filter(author_kind=Message.Author.VISITOR)
                .values_list("pk", flat=True)
                .order_by("pk")
            )
        )()
        assert saved == [first["message_id"], last["message_id"]]
    finally:
        await client.close()


@FUZZ
@given(frames=visitor_bad_frames)
def test_visitor_socket_refuses_every_bad_frame_once_and_keeps_working(site, frames):
    async_to_sync(visitor_scenario)(site, frames)


# --- the agent socket ------------------------------------------------------------------------


agent_not_an_id = not_an_id


def agent_fields(conversation_id: int) -> list:
    on = {"conversation_id": conversation_id}
    return [
        *(
            (kind, "conversation_id", agent_not_an_id, {})
            for kind in sorted(AGENT_TYPES - {"status"})
        ),
        (
            "reply",
            "client_id",
            bad_string(required=True, max_length=64, min_length=1),
            {**on, "text": "hi"},
        ),
        (
            "note",
            "client_id",
            bad_string(required=True, max_length=64, min_length=1),
            {**on, "text": "hi"},
        ),
        (
            "note",
            "text",
            st.one_of(
                bad_string(required=True, max_length=MAX_MESSAGE_LENGTH),
                st.sampled_from([raw(""), raw("  "), *map(raw, SURROGATE_TEXTS)]),
            ),
            {**on, "client_id": "fuzz-note"},
        ),
        ("read", "message_id", not_an_id, on),
        ("transfer", "agent_id", not_an_id, on),
        ("status", "status", st.one_of(non_string, st.just("null"), st.just(raw("busy"))), {}),
        # A conversation id that is a valid integer but names no conversation of this agent.
        *(
            (kind, "conversation_id", st.integers(10**9, 2**62).map(str), {})
            for kind in ("takeover", "close", "read", "typing", "suggest", "handback", "watch")
        ),
    ]


async def agent_scenario(site, user, conversation_id: int, frames) -> None:
    client, connected, code = await open_agent(user)
    assert connected, code
    try:
        assert (await client.receive())["type"] == "hello"
        await client.drain(0.05)
        for frame in frames:
            await send_raw(client.communicator, frame)
            answers = [a for a in await answers_until_pong(client) if a["type"] != "presence"]
            assert [a["type"] for a in answers] == ["error"], (describe(frame), answers)
            assert answers[0]["code"] != "server_error", (describe(frame), answers)
        client_id = f"note-{uuid.uuid4()}"
        await client.act("note", conversation_id, client_id=client_id, text="fuzz survived")
        answers = await client.receive_until(lambda e: e["type"] in ("ack", "error"))
        assert answers[-1]["type"] == "ack" and answers[-1]["client_id"] == client_id
        saved = await database_sync_to_async(
            lambda: list(
                Message.objects.filter(conversation_id=conversation_id, author_kind="agent")
                .values_list("client_id", flat=True)
                .order_by("pk")
            )
        )()
        assert saved[-1] == client_id and all(c.startswith("note-") for c in saved), saved
    finally:
        await client.close()


@pytest.fixture
def agent_world(site):
    from conversations.models import Conversation
    from tests.factories import ConversationFactory

    user = StaffUserFactory()
    conversation = ConversationFactory(visitor__site=site, state=Conversation.State.WAITING)
    return user, conversation.pk


@FUZZ
@given(data=st.data())
def test_agent_socket_refuses_every_bad_frame_once_and_keeps_working(site, agent_world, data):
    user, conversation_id = agent_world
    bad = st.one_of(malformed_frames(AGENT_TYPES), field_frames(agent_fields(conversation_id)))
    frames = data.draw(st.lists(bad, min_size=1, max_size=6), label="frames")
    async_to_sync(agent_scenario)(site, user, conversation_id, frames)


# --- fields the fuzz once found unvalidated: each is now refused with one clean error ---------


@pytest.mark.parametrize(
    ("frame", "after_first_message"),
    [
        ({"type": "message", "client_id": "\ud800", "text": "hi"}, True),
        ({"type": "identify", "name": "a\ud800"}, True),
        ({"type": "hello", "language": "\ud800"}, True),
        ({"type": "hello", "page": {"url": "\ud800"}}, True),
        ({"type": "seen", "message_id": "x"}, False),
        ({"type": "typing", "active": True, "text": 5}, False),
        ({"type": "typing", "active": "yes"}, True),
        ({"type": "identify", "name": {"a": 1}}, True),
        ({"type": "identify", "attributes": [1]}, True),
        ({"type": "hello", "page": 5}, True),
        ({"type": "hello", "last_seen_id": "x"}, True),
        # Frames that were always refused cleanly.
        ({"type": "seen", "message_id": "x"}, True),
        ({"type": "typing", "active": True, "text": 5}, True),
        ({"type": "hello", "token": 5}, True),
        ({"type": "message", "client_id": "c", "text": "a\ud800"}, True),
    ],
)
async def test_visitor_refuses_each_malformed_field_with_one_clean_error(
    site, visitor_factory, frame, after_first_message
):
    from conversations.models import Visitor

    client = await visitor_factory(site)
    welcome = await client.hello()
    first = None
    if after_first_message:
        first = await client.say("hello there")
        await client.receive_until(lambda e: e["type"] == "state")
        await client.drain(0.05)
    visitors = await database_sync_to_async(Visitor.objects.count)()

    await client.communicator.send_to(text_data=raw(frame))
    answers = await answers_until_pong(client)
    assert [a["type"] for a in answers] == ["error"], answers
    assert answers[0]["code"] in ("invalid_field", "too_long"), answers

    assert await database_sync_to_async(Visitor.objects.count)() == visitors
    ack = await client.say("and now?")
    assert ack["type"] == "ack"
    if first is not None:
        assert ack["conversation_id"] == first["conversation_id"]
    saved = await database_sync_to_async(
        lambda: Visitor.objects.get(anonymous_id=welcome["visitor_id"]).name
    )()
    assert saved == ""


@pytest.mark.parametrize(
    "conversation_id",
    [
        True,
        "7",
        -1,
        None,
    ],
)
async def test_agent_error_for_a_bad_conversation_id_matches_the_protocol(
    site, agent_factory, conversation_id
):
    user = await database_sync_to_async(StaffUserFactory)()
    agent = await agent_factory(user)
    await agent.drain(0.05)
    await agent.send({"type": "takeover", "conversation_id": conversation_id})
    answers = [a for a in await answers_until_pong(agent) if a["type"] != "presence"]
    assert [(a["type"], a["code"]) for a in answers] == [("error", "invalid_field")], answers
