"""The reports page in Chromium against Django's live server: rows created here, every
chart drawn by the vendored Chart.js with the numbers the database gives, and the site
filter changing them. With HELPDESK_SCREENSHOTS=1 it also regenerates the README's
docs/screenshots/reports.png from a month of realistic traffic."""

import os
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from conversations.reports import selectors
from conversations.reports.charts import report_chart_data
from conversations.reports.periods import ReportPeriod
from tests.browser.conftest import ARTIFACTS, ROOT, new_page
from tests.conversations.reports.seeding import at, conversation_create, realistic_reports_seed
from tests.factories import EntryFactory, SiteFactory, SuperUserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"
CHARTS = [
    "chart-conversations",
    "chart-deflection",
    "chart-escalations",
    "chart-first-response",
    "chart-csat",
]
# Every dataset of every chart, as reports.js builds them from the payload.
DRAWN_DATA = """
ids => Object.fromEntries(ids.map(id => {
  const chart = Chart.getChart(document.getElementById(id));
  return [id, chart ? chart.data.datasets.map(d => d.data) : null];
}))
"""
# Pixels Chart.js painted (anything not fully transparent) on each canvas.
PAINTED = """
ids => Object.fromEntries(ids.map(id => {
  const canvas = document.getElementById(id);
  const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) painted++;
  return [id, {painted, size: canvas.width * canvas.height}];
}))
"""


@pytest.fixture(scope="module", autouse=True)
def orm_beside_playwright():
    """Playwright's sync API runs an event loop in this thread, so Django refuses ORM calls
    here unless told they are safe: they are, the loop only drives the browser. Module
    scope: set before the database fixtures and cleared after their teardown."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


def expected_datasets(*, site_ids: list[int], period: ReportPeriod) -> dict[str, list]:
    daily = selectors.report_daily(site_ids=site_ids, period=period)
    reasons = selectors.report_escalation_reasons(site_ids=site_ids, period=period)
    data = report_chart_data(daily=daily, reasons=reasons)
    return {
        "chart-conversations": [
            data["conversations"]["botResolved"],
            data["conversations"]["humanNeeded"],
        ],
        "chart-deflection": [data["deflection"]],
        "chart-escalations": [data["escalations"]["counts"]],
        "chart-first-response": [
            data["firstResponse"][key] for key in ("botMedian", "botP90", "humanMedian", "humanP90")
        ],
        "chart-csat": [data["csat"]["average"], data["csat"]["count"]],
    }


def log_in(page, url: str, username: str) -> None:
    page.goto(url)
    assert "/agent/login/" in page.url, "the reports require a staff login"
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.locator("button[type=submit], input[type=submit]").first.click()
    page.wait_for_url("**/agent/reports/**")


def charts_ready(page) -> None:
    page.locator('body[data-charts="ready"]').wait_for(state="attached", timeout=15000)


@pytest.fixture
def watched_page(browser):
    page = new_page(browser, width=1440, height=900)
    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.console_errors = console_errors  # type: ignore[attr-defined]
    yield page
    page.context.close()


def test_reports_draw_every_chart_from_the_database_and_filter_by_site(watched_page, live_server):
    page = watched_page
    shop, rental = SiteFactory(name="Outdoor shop"), SiteFactory(name="Ski rental")
    entry = EntryFactory(site=shop, question="How long does shipping take?")
    conversation_create(site=shop, started=at("2025-03-01", "09:00"), bot_after=1, kb_entry=entry)
    conversation_create(site=shop, started=at("2025-03-01", "10:00"), bot_after=3, csat=5)
    conversation_create(
        site=shop,
        started=at("2025-03-02", "09:00"),
        bot_after=2,
        human_needed_after=5,
        reason="visitor asked for a person",
        agent_after=90,
        csat=3,
        comment="A bit slow",
    )
    conversation_create(
        site=rental,
        started=at("2025-03-02", "11:00"),
        bot_after=None,
        human_needed_after=0,
        reason="LLM timed out",
        agent_after=40,
        csat=4,
    )
    conversation_create(
        site=rental,
        started=at("2025-03-03", "11:00"),
        bot_after=8,
        human_needed_after=10,
        reason="taken over by an agent",
        agent_after=20,
    )
    SuperUserFactory(username="reports-boss")
    period = ReportPeriod(start=date(2025, 3, 1), end=date(2025, 3, 3), tz=ZoneInfo("UTC"))

    log_in(page, f"{live_server.url}/agent/reports/?from=2025-03-01&to=2025-03-03", "reports-boss")
    charts_ready(page)
    drawn = page.evaluate(DRAWN_DATA, CHARTS)
    assert drawn == expected_datasets(site_ids=[shop.pk, rental.pk], period=period)
    assert drawn["chart-conversations"] == [[2, 0, 0], [0, 2, 1]]
    painted = page.evaluate(PAINTED, CHARTS)
    for chart_id, counts in painted.items():
        # Bars, lines, axes and labels: far more than a blank canvas's zero.
        assert counts["painted"] > counts["size"] * 0.005, f"{chart_id} looks blank"
    assert page.locator('[data-testid="card-conversations-value"]').inner_text() == "5"
    assert page.locator('[data-testid="card-deflection-value"]').inner_text() == "40.0%"
    assert "A bit slow" in page.locator('[data-testid="table-csat-comments"]').inner_text()

    page.select_option('[data-testid="filter-site"]', label="Ski rental")
    page.click('[data-testid="apply-filters"]')
    page.wait_for_url(f"**site={rental.pk}**")
    charts_ready(page)
    drawn = page.evaluate(DRAWN_DATA, CHARTS)
    assert drawn == expected_datasets(site_ids=[rental.pk], period=period)
    assert drawn["chart-conversations"] == [[0, 0, 0], [0, 1, 1]]
    assert drawn["chart-escalations"] == [[1, 1]]
    assert page.locator('[data-testid="card-conversations-value"]').inner_text() == "2"
    assert page.locator('[data-testid="card-deflection-value"]').inner_text() == "0.0%"
    assert "A bit slow" not in page.locator('[data-testid="table-csat-comments"]').inner_text()
    href = page.locator('[data-testid="download-csv"]').get_attribute("href")
    assert f"site={rental.pk}" in href and "from=2025-03-01" in href

    assert page.js_errors == []
    assert page.console_errors == [], "CSP violations or script errors"

    page.goto(f"{live_server.url}/agent/reports/?from=2025-03-09&to=2025-03-01")
    assert "must not be after" in page.locator('[data-testid="filter-errors"]').inner_text()
    assert page.locator("canvas").count() == 0


@pytest.mark.skipif(
    not os.environ.get("HELPDESK_SCREENSHOTS"), reason="set HELPDESK_SCREENSHOTS=1 to regenerate"
)
def test_reports_screenshot_for_the_readme(watched_page, live_server):
    page = watched_page
    today = timezone.localdate()
    realistic_reports_seed(today=today, days=30)
    SuperUserFactory(username="reports-screenshot")
    start = (today - timedelta(days=29)).isoformat()
    log_in(
        page,
        f"{live_server.url}/agent/reports/?from={start}&to={today.isoformat()}",
        "reports-screenshot",
    )
    charts_ready(page)
    assert page.js_errors == [] and page.console_errors == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "reports-full.png"), full_page=True)
    # Tall enough for the cards and all five charts.
    page.set_viewport_size({"width": 1440, "height": 1240})
    page.screenshot(path=str(ROOT / "docs" / "screenshots" / "reports.png"))
