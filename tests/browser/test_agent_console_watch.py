"""The console watches only the open conversation: the inbox marks a reply in flight from
its start and end alone, and opening the conversation mid-stream shows the typing bubble,
then the reply from the next delta on, then the whole saved text."""

import json
import re

import pytest

from tests.browser.conftest import new_page
from tests.browser.test_agent_console import SLOW_QUESTION, log_in
from tests.browser.test_widget import open_widget, send

pytestmark = pytest.mark.browser

WORDS_IN_WIDGET = """
() => ((document.querySelector('[data-testid="streaming"] .hd-text') || {}).textContent || '')
  .trim().split(/\\s+/).filter(Boolean).length
"""


def record_agent_socket(page) -> list[tuple[str, dict]]:
    """Every frame of the console's socket, in order: ("sent" | "received", frame)."""
    log: list[tuple[str, dict]] = []

    def on_socket(ws) -> None:
        if "/ws/agent/" not in ws.url:
            return
        ws.on("framesent", lambda payload: log.append(("sent", json.loads(payload))))
        ws.on("framereceived", lambda payload: log.append(("received", json.loads(payload))))

    page.on("websocket", on_socket)
    return log


def sent(log, kind: str) -> list[dict]:
    return [frame for way, frame in log if way == "sent" and frame["type"] == kind]


def received_events(log, kind: str) -> list[dict]:
    return [
        frame
        for way, frame in log
        if way == "received" and frame["type"] == "event" and frame["event"]["type"] == kind
    ]


def kb_answered_row(page, agent_page, product):
    """A visitor asks what the KB answers; the console, logged in, lists it on the bot tab.
    Returns the widget and the conversation's row (not opened yet)."""
    log_in(agent_page, product)
    widget = open_widget(page, product)
    send(widget, "How long does shipping take?")
    agent_page.locator('[data-testid="tab-bot"]').click()
    row = agent_page.locator('[data-testid="conversation-row"]').first
    row.wait_for(timeout=15000)
    return widget, row


@pytest.fixture
def agent_page(browser):
    page = new_page(browser, width=1440, height=900)
    yield page
    page.context.close()


@pytest.fixture
def second_visitor(browser):
    page = new_page(browser, width=1280, height=860)
    yield page
    page.context.close()


def test_inbox_marks_the_reply_and_opening_it_mid_stream_watches_it(
    page, second_visitor, agent_page, product
):
    log = record_agent_socket(agent_page)
    log_in(agent_page, product)
    agent_page.locator('[data-testid="tab-bot"]').click()

    widget = open_widget(page, product)
    send(widget, SLOW_QUESTION)
    row = agent_page.locator('[data-testid="conversation-row"]').first
    row.wait_for(timeout=15000)
    conversation_id = int(row.get_attribute("data-conversation-id"))
    # Not open: the row says the bot is replying, from reply.start alone.
    row.locator('[data-testid="row-replying"]').wait_for(state="visible", timeout=15000)
    widget_frame = next(f for f in page.frames if "/widget/" in f.url)
    widget_frame.wait_for_function(f"() => ({WORDS_IN_WIDGET})() >= 3", timeout=15000)
    assert received_events(log, "reply.start"), "the inbox got the reply's start"
    assert not received_events(log, "reply.delta"), "no deltas for a conversation not open"
    assert not sent(log, "watch")

    row.click()
    stream = agent_page.locator('[data-testid="agent-streaming"]')
    stream.wait_for(timeout=10000)
    agent_page.wait_for_function(
        "() => ((document.querySelector('[data-testid=agent-streaming] .ac-text') || {})"
        ".textContent || '').split(' ').length > 3",
        timeout=15000,
    )
    assert sent(log, "watch") == [{"type": "watch", "conversation_id": conversation_id}]
    deltas = received_events(log, "reply.delta")
    assert deltas and deltas[0]["event"]["seq"] > 0, "watched mid-stream"
    # The pieces before the watch are missing: marked, until reply.end's whole text.
    assert stream.locator(".ac-text").text_content().startswith("…")

    final = widget.locator('.hd-msg[data-author="bot"][data-source="llm"] .hd-text')
    final.first.wait_for(timeout=20000)
    saved = agent_page.locator('.ac-msg[data-source="llm"][data-message-id] .ac-text')
    saved.first.wait_for(timeout=10000)
    assert saved.first.text_content() == final.first.text_content()
    assert not saved.first.text_content().startswith("…")
    row.locator('[data-testid="row-replying"]').wait_for(state="hidden", timeout=10000)

    # Another conversation opened: the first is unwatched, the new one watched.
    other = open_widget(second_visitor, product)
    send(other, "How long does shipping take?")
    rows = agent_page.locator('[data-testid="conversation-row"]')
    agent_page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=conversation-row]').length >= 2",
        timeout=15000,
    )
    newer = next(
        int(rows.nth(i).get_attribute("data-conversation-id"))
        for i in range(rows.count())
        if int(rows.nth(i).get_attribute("data-conversation-id")) != conversation_id
    )
    agent_page.locator(f'[data-conversation-id="{newer}"]').click()
    agent_page.wait_for_function(f"() => location.hash === '#c{newer}'", timeout=5000)
    agent_page.wait_for_timeout(300)
    assert sent(log, "unwatch") == [{"type": "unwatch", "conversation_id": conversation_id}]
    assert sent(log, "watch")[-1] == {"type": "watch", "conversation_id": newer}
    assert page.js_errors == [] and agent_page.js_errors == []


def test_after_a_reconnect_the_console_watches_the_open_conversation_again(
    page, agent_page, restartable_product
):
    product = restartable_product.running
    log = record_agent_socket(agent_page)
    widget, row = kb_answered_row(page, agent_page, product)
    conversation_id = int(row.get_attribute("data-conversation-id"))
    row.click()
    agent_page.locator('.ac-msg[data-source="kb"]').first.wait_for(timeout=10000)
    assert sent(log, "watch") == [{"type": "watch", "conversation_id": conversation_id}]

    restartable_product.stop()
    offline = agent_page.locator('[data-testid="agent-offline"]')
    offline.wait_for(state="visible", timeout=15000)
    restartable_product.start()
    offline.wait_for(state="hidden", timeout=30000)
    agent_page.wait_for_timeout(500)  # the new socket's first frames are recorded
    assert sent(log, "watch") == [{"type": "watch", "conversation_id": conversation_id}] * 2
    assert not sent(log, "unwatch"), "a new socket watches nothing: nothing to unwatch"

    # The new socket gets the open conversation's deltas: the reply grows on screen.
    widget.locator('[data-testid="offline-banner"]').wait_for(state="hidden", timeout=30000)
    send(widget, SLOW_QUESTION)
    agent_page.wait_for_function(
        "() => ((document.querySelector('[data-testid=agent-streaming] .ac-text') || {})"
        ".textContent || '').split(' ').length > 3",
        timeout=20000,
    )
    assert page.js_errors == [] and agent_page.js_errors == []


def test_a_message_saved_while_the_console_opens_the_conversation_still_shows(
    page, agent_page, product
):
    # The console's `watch` frame is held back on its way to the server, so the
    # server saves the visitor's next message before this socket joins the
    # conversation: it reaches the console only in the inbox row. Once `watching`
    # answers, the console reads the conversation again and the message shows.
    holding = {"on": False, "frames": [], "server": None}

    def route(ws) -> None:
        server = ws.connect_to_server()
        holding["server"] = server

        def to_server(message) -> None:
            if holding["on"] and json.loads(message).get("type") == "watch":
                holding["frames"].append(message)
            else:
                server.send(message)

        ws.on_message(to_server)
        server.on_message(lambda message: ws.send(message))

    agent_page.route_web_socket(re.compile(r"/ws/agent/"), route)
    widget, row = kb_answered_row(page, agent_page, product)
    holding["on"] = True
    row.click()
    agent_page.locator('.ac-msg[data-source="kb"]').first.wait_for(timeout=10000)
    for _ in range(50):
        if holding["frames"]:
            break
        agent_page.wait_for_timeout(100)
    assert holding["frames"], "the console sent `watch` on opening the conversation"

    send(widget, "Can I pay by invoice?")
    row.filter(has_text="Can I pay by invoice?").wait_for(timeout=10000)
    in_transcript = agent_page.locator(".ac-msg .ac-text", has_text="Can I pay by invoice?")
    assert in_transcript.count() == 0, "not watched yet: no message event reached it"

    holding["on"] = False
    for message in holding["frames"]:
        holding["server"].send(message)
    in_transcript.first.wait_for(timeout=10000)
    assert in_transcript.count() == 1
    assert page.js_errors == [] and agent_page.js_errors == []


def test_a_console_that_connects_mid_reply_marks_the_row_from_the_row_alone(
    page, agent_page, product
):
    log = record_agent_socket(agent_page)
    widget = open_widget(page, product)
    send(widget, "Do you mend tents with broken zips? [[tps:2]]")
    widget_frame = next(f for f in page.frames if "/widget/" in f.url)
    widget_frame.wait_for_function(f"() => ({WORDS_IN_WIDGET})() >= 2", timeout=15000)

    log_in(agent_page, product)  # the reply is under way: its reply.start went out before
    agent_page.locator('[data-testid="tab-bot"]').click()
    # By its question: the module's earlier conversations share the list, and one whose
    # reply is saved now moves to the top.
    row = agent_page.locator('[data-testid="conversation-row"]', has_text="broken zips")
    replying = row.locator('[data-testid="row-replying"]')
    replying.wait_for(state="visible", timeout=10000)
    assert not received_events(log, "reply.start"), "the reply started before the console"
    replying.wait_for(state="hidden", timeout=30000)
    assert received_events(log, "reply.end")
    assert page.js_errors == [] and agent_page.js_errors == []


def test_a_list_read_before_a_reply_ended_does_not_mark_it_replying_again(
    page, agent_page, product
):
    # A search read while a reply streams carries the reply in its row (`replying_id`).
    # Its response is held back until the reply's `reply.end` has reached the console;
    # the console then must not take the stale row for a reply still under way.
    held: list = []

    def hold(route) -> None:
        held.append((route, route.fetch()))  # read by the server now, mid-reply

    log = record_agent_socket(agent_page)
    log_in(agent_page, product)
    agent_page.locator('[data-testid="tab-bot"]').click()
    widget = open_widget(page, product)
    send(widget, "Do you fix canoes with cracked hulls? [[tps:3]]")
    row = agent_page.locator('[data-testid="conversation-row"]', has_text="cracked hulls")
    replying = row.locator('[data-testid="row-replying"]')
    replying.wait_for(state="visible", timeout=15000)

    agent_page.route(re.compile(r"/agent/api/conversations/\?.*q=hulls"), hold)
    agent_page.locator('[data-testid="search"]').fill("hulls")
    for _ in range(100):
        if held:
            break
        agent_page.wait_for_timeout(100)
    assert held, "the console searched"
    route, response = held[0]
    rows = json.loads(response.body())["conversations"]
    stale = next(r for r in rows if "cracked hulls" in json.dumps(r))
    assert isinstance(stale["replying_id"], str), "the held row was read mid-reply"
    # By id from here: once answered, the row shows the answer, not the question.
    row = agent_page.locator(f'[data-conversation-id="{stale["id"]}"]')
    replying = row.locator('[data-testid="row-replying"]')

    # The row is out of the list while the search is pending: wait for the frame itself.
    for _ in range(300):
        if received_events(log, "reply.end"):
            break
        agent_page.wait_for_timeout(100)
    assert [e["event"]["reply_id"] for e in received_events(log, "reply.end")] == [
        stale["replying_id"]
    ]
    with agent_page.expect_response(re.compile(r"q=hulls")):
        route.fulfill(response=response)
    agent_page.wait_for_timeout(1000)  # the stale rows are applied and the list redrawn
    assert row.count() == 1
    assert replying.is_hidden(), "a reply seen to end was revived by an older row"
    assert page.js_errors == [] and agent_page.js_errors == []
