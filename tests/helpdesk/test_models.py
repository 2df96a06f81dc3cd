import pytest
from django.db import IntegrityError

from helpdesk.models import Agent, Site
from tests.factories import AgentFactory, SiteFactory

pytestmark = pytest.mark.django_db


def test_site_gets_unique_random_public_key_and_identity_secret():
    first, second = Site.objects.create(name="A"), Site.objects.create(name="B")
    assert first.public_key.startswith("pk_") and first.public_key != second.public_key
    assert len(first.identity_secret) >= 32 and first.identity_secret != second.identity_secret


def test_site_defaults_are_usable_runtime_configuration():
    site = Site.objects.create(name="Shop")
    assert site.bot_enabled is True
    assert site.llm_timeout_seconds == 30
    assert site.llm_first_token_timeout_seconds == 10
    assert site.idle_timeout_minutes == 30
    assert 0 < site.kb_ground_threshold < site.kb_match_threshold <= 100
    assert set(site.business_hours["days"]) == {"0", "1", "2", "3", "4"}


def test_site_origin_list_ignores_blank_lines_and_trailing_slashes():
    site = SiteFactory(allowed_origins="https://a.example/\n\n  http://b.example:8080  \n")
    assert site.origin_list == ["https://a.example", "http://b.example:8080"]


def test_site_llm_model_falls_back_to_environment_default(settings):
    settings.OPENAI_MODEL = "env-model"
    assert SiteFactory(llm_model="").effective_llm_model == "env-model"
    assert SiteFactory(llm_model="site-model").effective_llm_model == "site-model"


def test_public_key_is_unique():
    SiteFactory(public_key="same")
    with pytest.raises(IntegrityError):
        SiteFactory(public_key="same")


def test_agent_initials_status_and_languages():
    agent = AgentFactory(display_name="Alice Liddell", languages="en, zh-hans")
    assert agent.initials == "AL"
    assert agent.status == Agent.Status.OFFLINE
    assert agent.language_list == ["en", "zh-hans"]
    agent.avatar_initials = "AX"
    assert agent.initials == "AX"


def test_agent_is_one_to_one_with_user():
    agent = AgentFactory()
    with pytest.raises(IntegrityError):
        Agent.objects.create(user=agent.user, display_name="Twin")
