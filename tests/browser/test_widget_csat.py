"""CSAT in Chromium: the agent closes the conversation, the widget asks for a rating, the
visitor rates it 4 with a comment and asks for the transcript, the database has the
rating, and the agent console shows it live."""

import os
import re
import sqlite3

import pytest

from tests.browser.conftest import ARTIFACTS, new_page
from tests.browser.test_agent_console import log_in
from tests.browser.test_widget import open_widget, send

pytestmark = pytest.mark.browser

COMMENT = "Quick answer, <b>thanks</b>!"


@pytest.fixture
def agent_page(browser):
    page = new_page(browser, width=1440, height=900)
    yield page
    page.context.close()


def stored_rating(product, conversation_id: int):
    database = product.log.parent / "db.sqlite3"
    with sqlite3.connect(database, timeout=10) as connection:
        return connection.execute(
            "SELECT csat_rating, csat_comment, csat_submitted_at IS NOT NULL "
            "FROM conversations_conversation WHERE id = ?",
            (conversation_id,),
        ).fetchone()


def test_visitor_rates_a_closed_conversation_and_the_console_shows_it(page, agent_page, product):
    log_in(agent_page, product)
    widget = open_widget(page, product)
    send(widget, "How long does shipping take?")
    widget.locator('.hd-msg[data-author="bot"][data-source="kb"]').first.wait_for(timeout=15000)
    prompt = widget.locator('[data-testid="csat"]')
    assert prompt.is_hidden()

    agent_page.locator('[data-testid="tab-bot"]').click()
    agent_page.locator('[data-testid="conversation-row"]').first.click()
    agent_page.locator('[data-testid="close-conversation"]').click()
    agent_page.locator('[data-testid="state-pill"]', has_text="closed").wait_for(timeout=10000)
    conversation_id = int(re.fullmatch(r".*#c(\d+)", agent_page.url).group(1))
    assert agent_page.locator('[data-testid="conversation-csat"]').is_hidden()

    prompt.wait_for(state="visible", timeout=10000)
    submit = widget.locator('[data-testid="csat-submit"]')
    assert submit.is_disabled()  # no rating chosen yet
    widget.locator('[data-testid="csat-star-4"]').click()
    assert widget.locator(".hd-star-on").count() == 4
    widget.locator('[data-testid="csat-comment"]').fill(COMMENT)
    submit.click()
    widget.locator('[data-testid="csat-thanks"]').wait_for(state="visible", timeout=10000)
    assert widget.locator('[data-testid="csat-thanks"]').inner_text() == "Thanks for your feedback!"

    assert stored_rating(product, conversation_id) == (4, COMMENT, 1)

    # The console that is looking at the conversation shows it without a reload.
    csat = agent_page.locator('[data-testid="conversation-csat"]')
    csat.wait_for(state="visible", timeout=10000)
    assert agent_page.locator('[data-testid="csat-score"]').inner_text() == "4/5"
    # The comment is text, never markup.
    assert agent_page.locator('[data-testid="csat-comment"]').inner_text() == COMMENT
    assert agent_page.locator('[data-testid="csat-comment"] b').count() == 0
    agent_page.locator('[data-testid="tab-closed"]').click()
    badge = agent_page.locator(
        f'[data-conversation-id="{conversation_id}"] [data-testid="row-csat"]'
    )
    badge.wait_for(state="visible", timeout=10000)
    assert badge.inner_text() == "★ 4"

    # The transcript offer: an address is asked for, a wrong one is refused clearly.
    email = widget.locator('[data-testid="transcript-email"]')
    status = widget.locator('[data-testid="transcript-status"]')
    email.fill("not-an-address")
    widget.locator('[data-testid="transcript-send"]').click()
    status.wait_for(state="visible", timeout=10000)
    assert "valid" in status.inner_text()
    email.fill("visitor@example.com")
    widget.locator('[data-testid="transcript-send"]').click()
    widget.locator('[data-testid="transcript-status"]', has_text="On its way").wait_for(
        timeout=10000
    )
    assert "vi***@example.com" in status.inner_text()
    if os.environ.get("HELPDESK_SCREENSHOTS"):
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "widget-csat.png"))
        agent_page.screenshot(path=str(ARTIFACTS / "agent-csat.png"))

    # Rated: a reload does not ask again.
    page.reload()
    widget = open_widget(page, product)
    widget.locator('[data-testid="state-banner"]').wait_for(state="attached", timeout=10000)
    page.wait_for_timeout(1000)
    assert widget.locator('[data-testid="csat"]').is_hidden()
    assert page.js_errors == [] and agent_page.js_errors == []


def test_the_prompt_comes_back_after_a_reload_until_rated_or_dismissed(page, agent_page, product):
    log_in(agent_page, product)
    widget = open_widget(page, product)
    send(widget, "How long does shipping take?")
    widget.locator('.hd-msg[data-author="bot"][data-source="kb"]').first.wait_for(timeout=15000)
    agent_page.locator('[data-testid="tab-bot"]').click()
    agent_page.locator('[data-testid="conversation-row"]').first.click()
    agent_page.locator('[data-testid="close-conversation"]').click()
    widget.locator('[data-testid="csat"]').wait_for(state="visible", timeout=10000)

    page.reload()
    widget = open_widget(page, product)
    prompt = widget.locator('[data-testid="csat"]')
    prompt.wait_for(state="visible", timeout=10000)  # resumed into a closed, unrated one
    widget.locator('[data-testid="csat-dismiss"]').click()
    assert prompt.is_hidden()

    page.reload()
    widget = open_widget(page, product)
    page.wait_for_timeout(1500)
    assert widget.locator('[data-testid="csat"]').is_hidden()
    assert page.js_errors == []
