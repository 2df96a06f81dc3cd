"""Files in Chromium: a visitor's picture previewed in the console, an agent's PDF in the widget,
and the file refused to anyone without the signed URL."""

import io
import subprocess
import urllib.error
import urllib.request

import pytest
from PIL import Image

from tests.browser import conftest
from tests.browser.test_agent_console import log_in
from tests.browser.test_widget import open_widget, widget_frame
from tests.conversations.attachment_samples import PDF

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def product(tmp_path_factory):
    """The product as the README starts it, with its uploads in a scratch folder."""
    folder = tmp_path_factory.mktemp("product")
    real_popen = subprocess.Popen

    def popen_with_media_root(command, *args, env=None, **kwargs):
        env = {**(env or {}), "MEDIA_ROOT": str(folder / "media")}
        return real_popen(command, *args, env=env, **kwargs)

    server = conftest.ProductProcess(folder)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(conftest.subprocess, "Popen", popen_with_media_root)
        running = server.start()
    yield running
    server.stop()


@pytest.fixture
def agent_page(browser):
    page = conftest.new_page(browser, width=1440, height=900)
    yield page
    page.context.close()


def photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (120, 80), (20, 120, 200)).save(out, "PNG")
    return out.getvalue()


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_visitor_picture_and_agent_pdf_reach_only_the_parties(page, agent_page, product):
    log_in(agent_page, product)
    widget = open_widget(page, product)

    attach = widget.locator('[data-testid="attach"]')
    attach.wait_for(state="visible", timeout=15000)
    widget.locator('[data-testid="file-input"]').set_input_files(
        {"name": "broken-zip.png", "mimeType": "image/png", "buffer": photo()}
    )
    widget.locator('[data-testid="attachment-chip"][data-state="ready"]').wait_for(timeout=15000)
    widget.locator('[data-testid="send"]').click()
    sent = widget.locator(
        '.hd-msg[data-author="visitor"][data-message-id] [data-testid="attachment-image"] img'
    )
    sent.wait_for(timeout=15000)
    widget_frame(page).wait_for_function(
        "() => [...document.querySelectorAll('.hd-att-image img')]"
        ".some((img) => img.naturalWidth === 120)",
        timeout=15000,
    )

    # The agent finds it in the bot's list (a file alone gets no bot answer) and sees the preview.
    agent_page.locator('[data-testid="tab-bot"]').click()
    agent_page.locator('[data-testid="conversation-row"]').first.click()
    preview = agent_page.locator(
        '.ac-msg[data-author="visitor"] [data-testid="attachment-image"] img'
    )
    preview.wait_for(timeout=15000)
    agent_page.wait_for_function(
        "() => document.querySelector('.ac-att-image img')?.naturalWidth === 120", timeout=15000
    )
    assert preview.get_attribute("alt") == "broken-zip.png"

    agent_page.locator('[data-testid="agent-file-input"]').set_input_files(
        {"name": "invoice 42.pdf", "mimeType": "application/pdf", "buffer": PDF}
    )
    agent_page.locator('[data-testid="attachment-chip"][data-state="ready"]').wait_for(
        timeout=15000
    )
    agent_page.locator('[data-testid="agent-send"]').click()

    chip = widget.locator('.hd-msg[data-author="agent"] [data-testid="attachment-file"]')
    chip.wait_for(timeout=15000)
    assert "invoice 42.pdf" in chip.inner_text()
    href = chip.get_attribute("href")
    assert "/attachments/" in href and "sig=" in href

    assert href.startswith(product.base + "/attachments/")  # same origin as the widget
    signed = href
    assert status_of(signed) == 200
    unsigned = signed.split("?", 1)[0]
    assert status_of(unsigned) == 403
    assert status_of(unsigned + "?sig=" + href.split("sig=", 1)[1][:-4] + "AAAA") == 403
    assert page.js_errors == [] and agent_page.js_errors == []
