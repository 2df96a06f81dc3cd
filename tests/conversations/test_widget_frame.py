"""The chat page inside the widget's iframe arrives in the browser's language."""

import json
import re

import pytest

from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("accept_language", "lang", "placeholder", "human"),
    [
        ("zh-CN,zh;q=0.9", "zh-Hans", "请输入消息…", "转人工客服"),
        ("en-US,en;q=0.9", "en", "Type your message…", "Talk to a person"),
    ],
)
def test_the_frame_is_rendered_in_the_browsers_language(
    client, accept_language, lang, placeholder, human
):
    site = SiteFactory(allowed_origins="http://shop.test")
    response = client.get(f"/widget/?site={site.public_key}", HTTP_ACCEPT_LANGUAGE=accept_language)
    assert response.status_code == 200
    html = response.content.decode()
    assert f'<html lang="{lang}">' in html
    assert f'placeholder="{placeholder}"' in html
    assert f'data-i18n="human">{human}</button>' in html
    # Both catalogues still travel with the page, for a host page in another language.
    (catalogue,) = re.findall(r'<script id="ui-text" type="application/json">(.+?)</script>', html)
    placeholders = {code: texts["placeholder"] for code, texts in json.loads(catalogue).items()}
    assert placeholders == {"en": "Type your message…", "zh": "请输入消息…"}
