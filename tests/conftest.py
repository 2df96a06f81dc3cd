import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"


def pytest_sessionstart(session: pytest.Session) -> None:
    # Catalogues are committed as .po only; the processes the tests start (and
    # this one) read the compiled .mo, as a deployed image does.
    from helpdesk.management.commands.compile_translations import translations_compile

    translations_compile()


@pytest.fixture(autouse=True)
def _fresh_configuration_copies(monkeypatch):
    """Each test reads the sensitive words and webhook subscriptions its own database holds.

    The process keeps them until the shared version counter moves, and the counter
    (in the cache) outlives a test's flushed database: a global word an earlier test
    saved went on screening, and holding back, the replies of later tests.
    """
    from helpdesk.webhooks import selectors as webhook_selectors
    from kb import filtering

    monkeypatch.setattr(filtering, "_cache", filtering._WordCache())
    monkeypatch.setattr(webhook_selectors, "_site_events", {})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing = [name for name in ("DATABASE_URL", "REDIS_URL") if not os.environ.get(name)]
    skip_services = pytest.mark.skip(
        reason=(
            f"integration test: set {' and '.join(missing)} "
            "(e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/test "
            "REDIS_URL=redis://127.0.0.1:6379/0) to run it against the real services"
        )
    )
    no_browser = not Path(CHROMIUM).exists()
    for item in items:
        if missing and item.get_closest_marker("integration"):
            item.add_marker(skip_services)
        if no_browser and item.get_closest_marker("browser"):
            if os.environ.get("CI"):
                # In CI a missing browser is a broken machine, not a reason to skip.
                item.add_marker(pytest.mark.xfail(reason=f"{CHROMIUM} missing in CI", strict=True))
            else:
                item.add_marker(
                    pytest.mark.skip(reason=f"{CHROMIUM} missing: `apt-get install -y chromium`")
                )


@pytest.fixture(scope="session", autouse=True)
def _end_stray_database_sessions(django_db_setup, django_db_blocker):
    """Let pytest-django drop the test database at the end.

    asgiref's executor threads and the subprocesses tests start can leave a
    PostgreSQL session open past their test; end them before the drop.
    """
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
