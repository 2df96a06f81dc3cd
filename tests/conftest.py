import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"


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
