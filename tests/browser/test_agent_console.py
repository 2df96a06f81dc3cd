"""Visitor and agent in two browser contexts: watch the bot stream, take over mid-stream,
talk, hand back, and the bot answers again."""

import os

import pytest

from tests.browser.conftest import ARTIFACTS, new_page
from tests.browser.test_widget import open_widget, send

pytestmark = pytest.mark.browser

SLOW_QUESTION = "What is your policy on repairs of worn-out hiking boots? [[tps:4]]"


@pytest.fixture
def agent_page(browser):
    page = new_page(browser, width=1440, height=900)
    yield page
    page.context.close()


def log_in(page, product) -> None:
    page.goto(product.base + "/agent/")
    assert "/agent/login/" in page.url, "the console requires a staff login"
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "helpdesk-demo")
    page.locator("button[type=submit], input[type=submit]").first.click()
    page.wait_for_url(product.base + "/agent/")
    page.locator('[data-testid="tab-bot"]').wait_for(timeout=15000)


def test_agent_takes_over_mid_stream_talks_and_hands_back(page, agent_page, product):
    log_in(agent_page, product)
    widget = open_widget(page, product)
    send(widget, SLOW_QUESTION)
    widget.locator('[data-testid="streaming"]').wait_for(timeout=15000)

    agent_page.locator('[data-testid="tab-bot"]').click()
    row = agent_page.locator('[data-testid="conversation-row"]').first
    row.wait_for(timeout=15000)
    row.click()
    agent_stream = agent_page.locator('[data-testid="agent-streaming"]')
    agent_stream.wait_for(timeout=15000)
    # The agent watches the reply grow, as the visitor sees it.
    agent_page.wait_for_function(
        "() => (document.querySelector('[data-testid=agent-streaming]') || {})"
        ".textContent?.split(' ').length > 4",
        timeout=15000,
    )
    if os.environ.get("HELPDESK_SCREENSHOTS"):
        ARTIFACTS.mkdir(exist_ok=True)
        agent_page.screenshot(path=str(ARTIFACTS / "agent-console.png"))

    agent_page.locator('[data-testid="takeover"]').click()
    agent_page.locator('[data-testid="state-pill"]', has_text="human").wait_for(timeout=10000)
    # The stream stops on both screens: its bubbles are gone and nothing grows any more.
    widget.locator('[data-testid="streaming"]').wait_for(state="detached", timeout=10000)
    agent_stream.wait_for(state="detached", timeout=10000)
    page.wait_for_timeout(1500)
    assert widget.locator('[data-testid="streaming"]').count() == 0
    assert widget.locator('.hd-msg[data-author="bot"][data-source="llm"]').count() == 0

    widget.locator(".hd-msg", has_text="joined the conversation").first.wait_for(timeout=10000)
    agent_page.locator('[data-testid="agent-composer"]').fill("Hi, Alice here. Let me check that.")
    agent_page.locator('[data-testid="agent-send"]').click()
    agent_bubble = widget.locator('.hd-msg[data-author="agent"] .hd-text')
    agent_bubble.first.wait_for(timeout=10000)
    assert agent_bubble.first.inner_text() == "Hi, Alice here. Let me check that."

    agent_page.locator('[data-testid="handback"]').click()
    agent_page.locator('[data-testid="state-pill"]', has_text="bot").wait_for(timeout=10000)
    send(widget, "How long does shipping take?")
    kb = widget.locator('.hd-msg[data-author="bot"][data-source="kb"] .hd-text')
    kb.first.wait_for(timeout=15000)
    assert kb.first.inner_text().startswith("Orders ship within 1 business day.")
    agent_page.locator('.ac-msg[data-source="kb"]').first.wait_for(timeout=10000)
    if os.environ.get("HELPDESK_SCREENSHOTS"):
        agent_page.screenshot(path=str(ARTIFACTS / "agent-console-handback.png"))
    assert page.js_errors == [] and agent_page.js_errors == []
