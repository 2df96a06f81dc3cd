"""Issue 6, rendering: hostile visitor text, LLM output and visitor identity are shown as
text in the widget (cross-origin on the demo page), the agent console and the Django admin,
in Chromium. Nothing may run (`window.__xss` stays undefined in every frame) and no element
may be built from the payloads."""

import re

import pytest

from tests.browser.test_agent_console import log_in
from tests.browser.test_widget import open_widget, send

pytestmark = pytest.mark.browser

PAYLOADS = [
    '<img src=x onerror="window.__xss=1">',
    "<script>window.__xss=2</script>",
    "javascript:window.__xss=3",
    '<a href="javascript:window.__xss=3">click me</a>',
    '"><svg onload=window.__xss=4>',
]
# The fake LLM takes its reply from a [[reply:...]] marker, which cannot contain "]".
BOT_PAYLOAD = " ".join(PAYLOADS)
assert "]" not in BOT_PAYLOAD
NAME_PAYLOAD = "<img src=x onerror=window.__xss=5>Mallory"

INJECTED = """
() => {
  const found = [];
  const add = (what, nodes) => {
    for (const n of nodes) found.push(what + ": " + n.outerHTML.slice(0, 120));
  };
  add("img src=x", document.querySelectorAll('img[src="x"], img[src$="/x"]'));
  add("script", [...document.scripts].filter(s => s.textContent.includes("__xss")));
  add("svg onload", document.querySelectorAll("svg[onload]"));
  add("onerror/onload attr", document.querySelectorAll("[onerror], [onload]"));
  add("javascript: link", document.querySelectorAll('a[href^="javascript:" i]'));
  const links = [...document.querySelectorAll("a")];
  add("payload element", links.filter(a => a.textContent === "click me"));
  return {xss: typeof window.__xss === "undefined" ? null : String(window.__xss), found};
}
"""


def assert_clean(page, where: str) -> None:
    """No frame of `page` ran a payload or holds an element built from one."""
    page.wait_for_timeout(300)  # let an onerror/onload fire if one was created
    for frame in page.frames:
        state = frame.evaluate(INJECTED)
        assert state["xss"] is None, f"{where}: window.__xss={state['xss']} in {frame.url}"
        assert state["found"] == [], f"{where}: {frame.url}: {state['found']}"


def normalised(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def test_hostile_text_is_inert_in_the_widget_the_console_and_the_admin(page, browser, product):
    page.add_init_script("window.__xss = undefined;")
    widget = open_widget(page, product)
    page.evaluate("(name) => Helpdesk.identify({name, email: 'mallory@example.com'})", NAME_PAYLOAD)

    for payload in PAYLOADS:
        send(widget, payload)
        widget.locator('.hd-msg[data-author="visitor"] .hd-text', has_text=payload).wait_for(
            timeout=15000
        )
    send(widget, f"one more question [[reply:{BOT_PAYLOAD}]]")
    bot = widget.locator(
        '.hd-msg[data-author="bot"][data-source="llm"]:not([data-testid="streaming"]) .hd-text',
        has_text="window.__xss=4",
    )
    bot.first.wait_for(timeout=30000)

    visitor_texts = [
        normalised(t)
        for t in widget.locator('.hd-msg[data-author="visitor"] .hd-text').all_inner_texts()
    ]
    for payload in PAYLOADS:
        assert payload in visitor_texts, (payload, visitor_texts)
    assert normalised(bot.first.inner_text()) == BOT_PAYLOAD
    assert_clean(page, "widget")
    assert page.js_errors == []

    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-US")
    try:
        agent = context.new_page()
        agent.add_init_script("window.__xss = undefined;")
        errors: list[str] = []
        agent.on("pageerror", lambda exc: errors.append(str(exc)))
        log_in(agent, product)
        assert_clean(agent, "console inbox")
        agent.locator('[data-testid="tab-bot"]').click()
        row = agent.locator('[data-testid="conversation-row"]', has_text="Mallory").first
        row.wait_for(timeout=15000)
        row.click()
        transcript = agent.locator('[data-testid="transcript"]')
        transcript.locator(".ac-msg", has_text="window.__xss=4").first.wait_for(timeout=15000)
        shown = normalised(transcript.inner_text())
        for payload in PAYLOADS:
            assert payload in shown, (payload, shown[:2000])
        assert BOT_PAYLOAD in shown
        assert NAME_PAYLOAD in normalised(
            agent.locator('[data-testid="visitor-panel"]').inner_text()
        )
        assert_clean(agent, "console conversation")

        agent.goto(f"{product.base}/admin/conversations/conversation/?q=__xss")
        link = agent.locator("#result_list tbody tr th a, #result_list tbody tr td a").first
        link.wait_for(timeout=10000)
        link.click()
        agent.wait_for_url(re.compile(r"/admin/conversations/conversation/\d+/change/"))
        content = normalised(agent.locator("#content").inner_text())
        for payload in PAYLOADS:
            assert payload in content, (payload, content[:2000])
        assert_clean(agent, "admin conversation")
        agent.goto(f"{product.base}/admin/conversations/visitor/?q=mallory")
        agent.locator("#result_list").wait_for(timeout=10000)
        assert_clean(agent, "admin visitors")
        assert errors == []
    finally:
        context.close()


def test_the_detector_sees_a_payload_that_runs(page):
    """Control: the checks above do catch a payload rendered as HTML."""
    page.set_content(f"<div>{PAYLOADS[0]}{PAYLOADS[3]}{PAYLOADS[4]}</div>")
    with pytest.raises(AssertionError, match=r"window\.__xss="):
        assert_clean(page, "control")
    page.set_content("<div></div>")
    page.evaluate("() => { delete window.__xss; }")
    page.evaluate("(html) => { document.querySelector('div').innerHTML = html; }", PAYLOADS[3])
    with pytest.raises(AssertionError, match="javascript: link"):
        assert_clean(page, "control")
