"""The connect path's Site cache: reused while fresh, and an admin change in any
process applies to the next connect in every other one."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from conversations import selectors, site_cache
from helpdesk.config_versions import config_version_get
from tests.factories import SiteFactory

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _empty_cache():
    site_cache.site_cache_clear()
    yield
    site_cache.site_cache_clear()


@pytest.mark.django_db
def test_second_lookup_of_a_site_needs_no_query(django_assert_num_queries):
    site = SiteFactory()
    assert selectors.site_get_for_widget(public_key=site.public_key).pk == site.pk
    with django_assert_num_queries(0):
        again = selectors.site_get_for_widget(public_key=site.public_key)
    assert again.pk == site.pk


@pytest.mark.django_db
def test_unknown_key_is_none_and_a_site_created_later_is_found():
    assert selectors.site_get_for_widget(public_key="pk_not_yet") is None
    site = SiteFactory(public_key="pk_not_yet")
    assert selectors.site_get_for_widget(public_key="pk_not_yet").pk == site.pk


@pytest.mark.django_db
def test_callers_get_their_own_copy():
    site = SiteFactory(name="Shop")
    first = selectors.site_get_for_widget(public_key=site.public_key)
    first.name = "changed by one consumer"
    assert selectors.site_get_for_widget(public_key=site.public_key).name == "Shop"


@pytest.mark.django_db
def test_saving_a_site_applies_to_the_next_lookup_in_this_process():
    site = SiteFactory(allowed_origins="https://old.example")
    cached = selectors.site_get_for_widget(public_key=site.public_key)
    assert cached.allowed_origins == "https://old.example"
    site.allowed_origins = "https://new.example"
    site.save()
    fresh = selectors.site_get_for_widget(public_key=site.public_key)
    assert fresh.allowed_origins == "https://new.example"


@pytest.mark.django_db
def test_deleting_a_site_applies_to_the_next_lookup():
    site = SiteFactory()
    assert selectors.site_get_for_widget(public_key=site.public_key) is not None
    site.delete()
    assert selectors.site_get_for_widget(public_key=site.public_key) is None


@pytest.mark.django_db
def test_save_bumps_the_shared_counter_after_commit(django_capture_on_commit_callbacks):
    site = SiteFactory()
    before = config_version_get(scope=site_cache.SITES_SCOPE)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        site.name = "Renamed"
        site.save()
    assert len(callbacks) == 1
    assert config_version_get(scope=site_cache.SITES_SCOPE) == before + 2


@pytest.mark.django_db(transaction=True)
def test_admin_change_in_another_process_applies_to_the_next_connect_here():
    site = SiteFactory(allowed_origins="https://old.example")
    assert (
        selectors.site_get_for_widget(public_key=site.public_key).allowed_origins
        == "https://old.example"
    )
    # Another process (as a web process serving the admin would) saves the Site:
    # same PostgreSQL database and Redis cache prefix as this test run.
    database = connection.settings_dict
    url = f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    script = (
        "import django; django.setup()\n"
        "import conversations.selectors\n"
        "from helpdesk.models import Site\n"
        f"site = Site.objects.get(pk={site.pk})\n"
        "site.allowed_origins = 'https://new.example'\n"
        "site.save()\n"
    )
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "helpdesk.settings.test"}
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, timeout=60)
    fresh = selectors.site_get_for_widget(public_key=site.public_key)
    assert fresh.allowed_origins == "https://new.example"


@pytest.mark.django_db
def test_a_change_that_skips_save_is_seen_once_the_ttl_passes(monkeypatch, settings):
    site = SiteFactory(allowed_origins="https://old.example")
    selectors.site_get_for_widget(public_key=site.public_key)
    type(site).objects.filter(pk=site.pk).update(allowed_origins="https://new.example")
    later = site_cache._now() + settings.SITE_CACHE_SECONDS + 1
    monkeypatch.setattr(site_cache, "_now", lambda: later)
    fresh = selectors.site_get_for_widget(public_key=site.public_key)
    assert fresh.allowed_origins == "https://new.example"


@pytest.mark.django_db
def test_a_ttl_of_zero_reads_the_row_on_every_lookup(settings, django_assert_num_queries):
    settings.SITE_CACHE_SECONDS = 0
    site = SiteFactory()
    selectors.site_get_for_widget(public_key=site.public_key)
    type(site).objects.filter(pk=site.pk).update(allowed_origins="https://new.example")
    with django_assert_num_queries(1):
        fresh = selectors.site_get_for_widget(public_key=site.public_key)
    assert fresh.allowed_origins == "https://new.example"
