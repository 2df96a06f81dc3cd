"""The interface in Simplified Chinese: a browser set to zh-CN gets the widget, the
bot's fixed messages, the console and the reports from the zh_Hans catalogue.

With HELPDESK_SCREENSHOTS=1 it also writes the README's screenshot of the widget
in Chinese (docs/screenshots/widget-zh.png; needs a CJK font, e.g. Debian's
fonts-noto-cjk, or the characters draw as boxes).
"""

import os

import pytest

from tests.browser.conftest import ROOT, new_page

pytestmark = pytest.mark.browser


@pytest.fixture
def chinese_page(browser):
    page = new_page(browser, width=1280, height=860, locale="zh-CN")
    yield page
    page.context.close()


def test_a_chinese_browser_gets_the_widget_and_the_bot_in_chinese(chinese_page, product):
    page = chinese_page
    page.goto(product.demo + "/")
    launcher = page.locator("#helpdesk-launcher")
    page.locator('#helpdesk-root[data-ready="true"]').wait_for(state="attached", timeout=15000)
    # The launcher lives on the host page: its label comes translated from config.json.
    assert launcher.get_attribute("aria-label") == "打开在线客服"
    launcher.click()
    frame = page.frame_locator("#helpdesk-frame")
    composer = frame.locator('[data-testid="composer"]')
    composer.wait_for(state="visible", timeout=15000)
    assert composer.get_attribute("placeholder") == "请输入消息…"
    assert frame.locator('[data-testid="human"]').inner_text() == "转人工客服"
    assert frame.locator(".hd-subtitle").inner_text() == "我们通常会在几分钟内回复"
    # The Site's Chinese greeting, then a KB answer in Chinese, tagged in Chinese.
    frame.get_by_text("您好！请问有什么可以帮您？").first.wait_for(timeout=15000)
    composer.fill("多久能收到货")  # an alternative of the demo entry: answered at once
    frame.locator('[data-testid="send"]').click()
    answer = frame.locator('.hd-msg[data-author="bot"][data-source="kb"]').first
    answer.wait_for(timeout=15000)
    assert answer.locator(".hd-text").inner_text().startswith("订单会在1个工作日内发出")
    assert "来自帮助中心的答案" in answer.inner_text()
    # Asking for a person: the bot's fixed message comes from the catalogue.
    frame.locator('[data-testid="human"]').click()
    frame.get_by_text("请在这里留下您的邮箱").first.wait_for(timeout=15000)
    assert page.js_errors == []

    if os.environ.get("HELPDESK_SCREENSHOTS"):
        page.set_viewport_size({"width": 1100, "height": 760})
        page.wait_for_timeout(400)
        page.screenshot(path=str(ROOT / "docs" / "screenshots" / "widget-zh.png"))


def test_a_chinese_browser_gets_the_console_and_the_reports_in_chinese(chinese_page, product):
    page = chinese_page
    page.goto(product.base + "/agent/")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "helpdesk-demo")
    page.locator("button[type=submit], input[type=submit]").first.click()
    page.wait_for_url(product.base + "/agent/")
    waiting_tab = page.locator('[data-testid="tab-waiting"]')
    waiting_tab.wait_for(timeout=15000)
    assert waiting_tab.inner_text().startswith("排队中")
    reports = page.locator('[data-testid="reports-link"]')
    assert reports.inner_text() == "报表"
    reports.click()
    page.wait_for_url("**/agent/reports/**")
    assert page.locator("h1").inner_text() == "报表"
    assert page.evaluate("document.documentElement.lang").lower().startswith("zh")
    assert page.js_errors == []
