"""The knowledge-base playground in Chromium: a staff member asks, sees the decision, the
scores per tier, and the grounded reply streamed from the (fake) LLM."""

import pytest

from tests.browser.conftest import ARTIFACTS

pytestmark = pytest.mark.browser

FAKE_LLM_REPLY_START = "This is a streamed answer from the test LLM server."


def log_in(page, product) -> None:
    page.goto(product.base + "/admin/login/?next=/admin/kb/entry/playground/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "helpdesk-demo")
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/kb/entry/playground/**", timeout=15000)


def ask(page, question: str) -> None:
    page.fill("#id_q", question)
    page.click('[data-testid="ask"]')
    page.locator('[data-testid="decision"]').wait_for(timeout=15000)


def test_playground_shows_decision_scores_and_streamed_reply(page, product):
    log_in(page, product)
    assert "semantic" in page.locator('[data-testid="tiers"]').inner_text()

    ask(page, "When will my order arrive?")
    assert page.locator('[data-testid="decision"]').inner_text() == "answer"
    first = page.locator('[data-testid="candidate"]').first
    assert "How long does shipping take?" in first.inner_text()
    assert (
        page.locator('[data-testid="kb-answer"]')
        .inner_text()
        .startswith("Orders ship within 1 business day.")
    )
    header = page.locator('[data-testid="candidates"] thead').inner_text().lower()
    assert "lexical" in header and "semantic cosine" in header

    ask(page, "Do you have vegan leather boots in size 44?")
    assert page.locator('[data-testid="decision"]').inner_text() in ("ground", "none")
    page.locator('[data-testid="reply"][data-done="1"]').wait_for(timeout=20000)
    reply = page.locator('[data-testid="reply"]').inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "kb-playground.png"), full_page=True)
    assert reply.startswith(FAKE_LLM_REPLY_START)
    assert page.js_errors == []
