"""Each settings module, loaded in a fresh interpreter with a controlled environment."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from helpdesk.models import Site

ROOT = Path(__file__).resolve().parents[2]

PRINT_SETTINGS = """
import json, django
from django.conf import settings
django.setup()
print(json.dumps({
    "debug": settings.DEBUG,
    "db_engine": settings.DATABASES["default"]["ENGINE"],
    "db_name": str(settings.DATABASES["default"]["NAME"]),
    "layer": settings.CHANNEL_LAYERS["default"]["BACKEND"],
    "layer_hosts": settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("hosts"),
    "cache": settings.CACHES["default"]["BACKEND"],
    "runner": settings.HELPDESK_LLM_RUNNER,
    "broker": settings.CELERY_BROKER_URL,
    "result_backend": settings.CELERY_RESULT_BACKEND,
    "beat": sorted(settings.CELERY_BEAT_SCHEDULE),
    "session_cookie_secure": settings.SESSION_COOKIE_SECURE,
    "secret_key_fallbacks": list(getattr(settings, "SECRET_KEY_FALLBACKS", [])),
    "db_options": settings.DATABASES["default"].get("OPTIONS", {}),
}))
"""

PRODUCTION_ENV = {
    "SECRET_KEY": "a-production-secret-key-that-is-long-and-random-0123456789-abcdefghij",
    "ALLOWED_HOSTS": "helpdesk.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://helpdesk.example.com",
    "DATABASE_URL": "postgres://helpdesk:pw@db.example.com:5432/helpdesk",
    "REDIS_URL": "redis://cache.example.com:6379/0",
}


def clean_env(settings_module: str, **extra: str) -> dict[str, str]:
    keep = {"PATH", "HOME", "LANG", "SYSTEMROOT"}
    env = {key: value for key, value in os.environ.items() if key in keep}
    env["DJANGO_SETTINGS_MODULE"] = settings_module
    env.update(extra)
    return env


def load(settings_module: str, cwd: Path = ROOT, **extra: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS],
        cwd=cwd,
        env=clean_env(settings_module, PYTHONPATH=str(ROOT), **extra),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_local_settings_run_on_embedded_defaults_with_no_environment():
    values = load("helpdesk.settings.local")
    assert values["debug"] is True
    assert values["db_engine"] == "django.db.backends.sqlite3"
    assert values["db_name"] == str(ROOT / "db.sqlite3")
    assert values["layer"] == "channels.layers.InMemoryChannelLayer"
    assert values["cache"] == "django.core.cache.backends.locmem.LocMemCache"
    assert values["runner"] == "inline"
    assert values["broker"] == "memory://"
    assert "close-idle-conversations" in values["beat"]


def test_base_settings_have_debug_off():
    assert load("helpdesk.settings.base")["debug"] is False


def test_redis_url_switches_layer_cache_and_celery_to_redis():
    values = load("helpdesk.settings.local", REDIS_URL="redis://127.0.0.1:6379/3")
    assert values["layer"] == "helpdesk.pipelined_channel_layer.PipelinedPubSubChannelLayer"
    host = values["layer_hosts"][0]
    assert host["address"] == "redis://127.0.0.1:6379/3"
    # The pool must not raise at 100 connections nor time out the layer's blocking read.
    assert host["max_connections"] >= 1000
    assert host["socket_timeout"] is None
    assert values["cache"] == "helpdesk.redis_cache.SharedPoolRedisCache"
    assert values["runner"] == "celery"
    assert values["broker"] == values["result_backend"] == "redis://127.0.0.1:6379/3"


def test_production_reads_everything_from_the_environment():
    values = load("helpdesk.settings.production", **PRODUCTION_ENV)
    assert values["debug"] is False
    assert values["db_engine"] == "django.db.backends.postgresql"
    assert values["db_name"] == "helpdesk"
    assert values["layer"] == "helpdesk.pipelined_channel_layer.PipelinedPubSubChannelLayer"
    assert values["session_cookie_secure"] is True
    assert values["secret_key_fallbacks"] == []


def test_postgresql_binds_on_the_server_and_prepares_unless_a_pooler_forbids_it():
    prepared = {"server_side_binding": True, "prepare_threshold": 5}
    assert load("helpdesk.settings.production", **PRODUCTION_ENV)["db_options"] == prepared
    assert (
        load("helpdesk.settings.local", DATABASE_URL=PRODUCTION_ENV["DATABASE_URL"])["db_options"]
        == prepared
    )
    behind_pgbouncer = load(
        "helpdesk.settings.production", **PRODUCTION_ENV, DB_PREPARED_STATEMENTS="false"
    )
    assert behind_pgbouncer["db_options"] == {}
    assert "server_side_binding" not in load("helpdesk.settings.local")["db_options"]


@pytest.mark.integration
@pytest.mark.django_db
def test_a_statement_a_connection_repeats_is_prepared_on_postgresql():
    assert connection.vendor == "postgresql"
    for _ in range(6):
        list(Site.objects.filter(public_key="nobody-has-this-key"))
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        statements = [row[0] for row in cursor.fetchall()]
    assert any('"helpdesk_site"' in text and "$1" in text for text in statements), statements


def test_production_accepts_old_secret_keys_during_a_rotation():
    values = load(
        "helpdesk.settings.production", **PRODUCTION_ENV, SECRET_KEY_FALLBACKS="old-one,older-one"
    )
    assert values["secret_key_fallbacks"] == ["old-one", "older-one"]


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL"])
def test_production_has_no_default_for_secrets_and_hosts(missing):
    env = {key: value for key, value in PRODUCTION_ENV.items() if key != missing}
    result = subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS],
        cwd=ROOT,
        env=clean_env("helpdesk.settings.production", PYTHONPATH=str(ROOT), **env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert missing in result.stderr


def test_check_deploy_passes_with_no_warnings_on_production_settings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=clean_env("helpdesk.settings.production", **PRODUCTION_ENV),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout
