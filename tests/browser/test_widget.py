"""The widget in Chromium: embedded cross-origin, a KB answer, a streamed reply, a reload."""

import os

import pytest

from tests.browser.conftest import ARTIFACTS

pytestmark = pytest.mark.browser

KB_QUESTION = "How long does shipping take?"
KB_ANSWER_START = "Orders ship within 1 business day."

# Records every text the streaming bubble shows, so the test sees the reply grow.
OBSERVE_STREAM = """
() => {
  window.__streamStates = [];
  const record = () => {
    const bubble = document.querySelector('[data-testid="streaming"] .hd-text');
    if (bubble) {
      const text = bubble.textContent;
      const states = window.__streamStates;
      if (states[states.length - 1] !== text) states.push(text);
    }
  };
  new MutationObserver(record).observe(
    document.body, {subtree: true, childList: true, characterData: true});
}
"""


def open_widget(page, product):
    page.goto(product.demo + "/")
    page.locator("#helpdesk-launcher").click()
    frame = page.frame_locator("#helpdesk-frame")
    frame.locator('[data-testid="composer"]').wait_for(state="visible", timeout=15000)
    return frame


def send(frame, text: str) -> None:
    frame.locator('[data-testid="composer"]').fill(text)
    frame.locator('[data-testid="send"]').click()


def widget_frame(page):
    return next(f for f in page.frames if "/widget/" in f.url)


def test_cross_origin_widget_answers_from_kb_streams_llm_and_keeps_history(page, product):
    assert product.demo.split(":")[-1] != product.base.split(":")[-1]
    frame = open_widget(page, product)

    send(frame, KB_QUESTION)
    kb_bubble = frame.locator('.hd-msg[data-author="bot"][data-source="kb"] .hd-text')
    kb_bubble.first.wait_for(timeout=15000)
    assert kb_bubble.first.inner_text().startswith(KB_ANSWER_START)

    widget_frame(page).evaluate(OBSERVE_STREAM)
    send(frame, "Do you have vegan leather boots in size 44?")
    streaming = frame.locator('[data-testid="streaming"]')
    streaming.wait_for(timeout=15000)
    if os.environ.get("HELPDESK_SCREENSHOTS"):
        widget_frame(page).wait_for_function(
            "() => (document.querySelector('[data-testid=\"streaming\"] .hd-text') || {})"
            ".textContent?.length > 60",
            timeout=15000,
        )
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "widget-streaming.png"))
    final = frame.locator(
        '.hd-msg[data-author="bot"][data-source="llm"]:not([data-testid="streaming"]) .hd-text'
    )
    final.first.wait_for(timeout=30000)
    final_text = final.first.inner_text()
    assert final_text.startswith("This is a streamed answer from the test LLM server.")

    states = widget_frame(page).evaluate("window.__streamStates")
    intermediate = [s for s in states if s and s != final_text]
    assert len(intermediate) >= 3, states
    # The reply grew: each state is a prefix of the next and of the final text.
    for earlier, later in zip(intermediate, [*intermediate[1:], final_text], strict=True):
        assert later.startswith(earlier)

    page.reload()
    frame = open_widget(page, product)
    texts = frame.locator(".hd-msg .hd-text")
    frame.locator(".hd-msg", has_text=final_text).first.wait_for(timeout=15000)
    all_text = "\n".join(texts.all_inner_texts())
    assert KB_QUESTION in all_text and KB_ANSWER_START in all_text and final_text in all_text
    assert page.js_errors == []


def test_widget_page_refuses_to_be_framed_by_an_origin_the_site_does_not_allow(page, product):
    csp = page.request.get(product.base + "/widget/?site=demo").headers["content-security-policy"]
    assert (
        "frame-ancestors 'self' " in csp and product.demo in csp and "http://evil.test" not in csp
    )


def test_a_message_typed_before_the_widget_script_runs_waits_for_it_and_is_sent(page, product):
    # Until chat.js has wired the form, a click on send would submit it natively: the CSP
    # blocks that and the text would be gone. The button stays disabled until then.
    held: list = []
    page.route("**/static/widget/chat.js*", lambda route: held.append(route))
    page.goto(product.demo + "/")
    page.locator("#helpdesk-launcher").click()
    frame = page.frame_locator("#helpdesk-frame")
    composer = frame.locator('[data-testid="composer"]')
    composer.wait_for(state="visible", timeout=15000)
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(100)
    assert held, "the widget page asked for its script"
    composer.fill(KB_QUESTION)
    assert frame.locator('[data-testid="send"]').is_disabled()

    held[0].continue_()
    frame.locator('[data-testid="send"]').click()  # waits until the button is enabled
    answer = frame.locator('.hd-msg[data-author="bot"][data-source="kb"] .hd-text')
    answer.first.wait_for(timeout=15000)
    assert answer.first.inner_text().startswith(KB_ANSWER_START)
    assert page.js_errors == []


def test_offline_banner_and_unsent_messages_are_resent_after_the_server_returns(
    page, restartable_product
):
    product = restartable_product.running
    frame = open_widget(page, product)
    send(frame, KB_QUESTION)
    frame.locator('.hd-msg[data-author="bot"][data-source="kb"]').first.wait_for(timeout=15000)

    restartable_product.stop()
    banner = frame.locator('[data-testid="offline-banner"]')
    banner.wait_for(state="visible", timeout=15000)
    send(frame, "How do I reset my password?")
    pending = frame.locator('.hd-msg[data-author="visitor"]').last
    assert pending.get_attribute("data-message-id") is None, "not acked while the server is down"

    restartable_product.start()
    banner.wait_for(state="hidden", timeout=30000)
    frame.locator(
        '.hd-msg[data-author="visitor"][data-message-id]', has_text="How do I reset my password?"
    ).wait_for(timeout=15000)
    answer = frame.locator(
        '.hd-msg[data-author="bot"][data-source="kb"] .hd-text', has_text="reset link"
    )
    answer.first.wait_for(timeout=15000)
    # Saved exactly once, though the widget may have tried more than once.
    page.reload()
    frame = open_widget(page, product)
    frame.locator(".hd-msg", has_text="reset link").first.wait_for(timeout=15000)
    resent = frame.locator('.hd-msg[data-author="visitor"]', has_text="How do I reset my password?")
    assert resent.count() == 1
