import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from helpdesk.demo import DEMO_SITE_KEY
from helpdesk.models import Agent, Site
from kb.models import Entry, SensitiveWord

pytestmark = pytest.mark.django_db


def test_seed_demo_creates_a_bilingual_kb_and_a_working_admin_and_is_idempotent(capsys):
    call_command("seed_demo")
    first = capsys.readouterr().out
    call_command("seed_demo")
    second = capsys.readouterr().out

    site = Site.objects.get(public_key=DEMO_SITE_KEY)
    entries = Entry.objects.filter(site=site)
    assert 18 <= entries.count() <= 30
    chinese = [e for e in entries if any("\u4e00" <= ch <= "\u9fff" for ch in e.question)]
    assert len(chinese) >= 5
    assert SensitiveWord.objects.filter(site=None).count() >= 3
    assert Site.objects.count() == 1

    assert "admin / helpdesk-demo" in first and "admin / helpdesk-demo" in second
    user = authenticate(username="admin", password="helpdesk-demo")
    assert user is not None and user.is_staff
    assert Agent.objects.get(user=user).sites.filter(pk=site.pk).exists()
    assert "0 new KB entries" in second
    assert "http://127.0.0.1:8001" in site.origin_list
