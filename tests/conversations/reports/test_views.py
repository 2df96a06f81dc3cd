"""/agent/reports/ and its CSV: staff only, an agent's own sites only, bad filters shown as
errors (never a 500), and CSV files that say what the selectors say."""

import csv
import io
import json
from datetime import date
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from conversations.reports import selectors
from conversations.reports.csv_export import BOM
from conversations.reports.periods import ReportPeriod
from tests.conversations.reports.seeding import at, conversation_create
from tests.factories import AgentFactory, SuperUserFactory, UserFactory

pytestmark = pytest.mark.django_db

PAGE = "/agent/reports/"
EXPORT = "/agent/reports/export.csv"
RANGE = {"from": "2025-03-01", "to": "2025-03-03"}
PERIOD = ReportPeriod(start=date(2025, 3, 1), end=date(2025, 3, 3), tz=ZoneInfo("UTC"))


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def boss() -> Client:
    return client_for(SuperUserFactory())


@pytest.fixture
def site_a_agent(report_data) -> Client:
    site_a, _ = report_data
    agent = AgentFactory()
    agent.sites.set([site_a])
    return client_for(agent.user)


def parse_csv(response) -> list[list[str]]:
    text = response.content.decode("utf-8")
    assert text.startswith(BOM), "Excel needs the byte-order mark to read UTF-8"
    return list(csv.reader(io.StringIO(text[len(BOM) :])))


def chart_data(response) -> dict:
    return response.context["chart_data"]


@pytest.mark.parametrize("url", [PAGE, EXPORT])
def test_anonymous_visitors_are_sent_to_the_login(url):
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/agent/login/?next=")


@pytest.mark.parametrize("url", [PAGE, EXPORT])
def test_signed_in_non_staff_users_get_no_report(url, report_data):
    response = client_for(UserFactory()).get(url, RANGE)
    assert response.status_code == 302
    assert "/agent/login/" in response["Location"]


def test_page_shows_the_figures_of_every_site_to_a_superuser(boss, report_data):
    response = boss.get(PAGE, RANGE)
    assert response.status_code == 200
    cards = {card["key"]: card for card in response.context["cards"]}
    assert cards["conversations"]["value"] == "8"
    assert cards["deflection"]["value"] == "50.0%"
    assert cards["csat"]["value"] == "3.25 / 5"
    data = chart_data(response)
    assert data["days"] == ["2025-03-01", "2025-03-02", "2025-03-03"]
    assert data["conversations"] == {"botResolved": [2, 1, 1], "humanNeeded": [3, 1, 0]}
    assert data["deflection"] == [40.0, 50.0, 100.0]
    assert data["firstResponse"]["botMedian"] == [2.5, 4.5, 6.0]
    assert data["firstResponse"]["humanP90"] == [108.0, None, None]
    assert data["csat"] == {"average": [3.0, 4.0, None], "count": [3, 1, 0]}
    assert data["escalations"]["counts"] == [2, 1, 1]
    body = response.content.decode()
    assert 'id="report-data"' in body and "chart-4.6.1.umd.min.js" in body
    assert "cdn" not in body.lower()
    assert "How long does shipping take?" in body  # top KB entries table
    assert "Content-Security-Policy" in response.headers


def test_a_site_restricted_agent_sees_only_their_site(site_a_agent, report_data):
    _, site_b = report_data
    response = site_a_agent.get(PAGE, RANGE)
    assert response.status_code == 200
    assert [site.name for site in response.context["sites"]] == ["Shop A"]
    assert chart_data(response)["conversations"]["humanNeeded"] == [2, 1, 0]
    assert "Bad" not in [c.comment for c in response.context["csat_comments"]]

    refused = site_a_agent.get(PAGE, {**RANGE, "site": site_b.pk})
    assert refused.status_code == 400
    assert "no such site among the sites you serve" in refused.content.decode()
    assert "chart_data" not in refused.context
    csv_refused = site_a_agent.get(EXPORT, {**RANGE, "site": site_b.pk})
    assert csv_refused.status_code == 400
    assert "Shop B" not in csv_refused.content.decode()


def test_site_filter_narrows_the_report(boss, report_data):
    _, site_b = report_data
    response = boss.get(PAGE, {**RANGE, "site": site_b.pk})
    assert response.status_code == 200
    assert chart_data(response)["conversations"] == {
        "botResolved": [0, 0, 0],
        "humanNeeded": [1, 0, 0],
    }
    assert response.context["selected_site"] == site_b.pk


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "2025-13-01"}, "Enter the start date as YYYY-MM-DD."),
        ({"from": "yesterday", "to": "2025-03-01"}, "Enter the start date as YYYY-MM-DD."),
        ({"to": "2025/03/01"}, "Enter the end date as YYYY-MM-DD."),
        ({"from": "2025-03-05", "to": "2025-03-01"}, "must not be after the end date"),
        ({"from": "2020-01-01", "to": "2025-03-01"}, "Choose at most 366 days."),
        ({"site": "abc"}, "no such site"),
        ({"site": "999999"}, "no such site"),
    ],
)
def test_bad_filters_give_a_clear_error_not_a_500(boss, params, message):
    response = boss.get(PAGE, params)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert 'data-testid="filter-errors"' in response.content.decode()
    csv_response = boss.get(EXPORT, params)
    assert csv_response.status_code == 400
    assert message in csv_response.content.decode()


def test_without_filters_the_page_covers_the_last_30_days(boss):
    response = boss.get(PAGE)
    assert response.status_code == 200
    period = response.context["period"]
    assert (period.end - period.start).days == 29


def test_daily_csv_matches_the_selectors(boss, report_data):
    response = boss.get(EXPORT, RANGE)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="report-daily-2025-03-01-2025-03-03.csv"' in response["Content-Disposition"]
    header, *rows = parse_csv(response)
    assert header[:5] == [
        "day",
        "conversations",
        "bot resolved",
        "human needed",
        "deflection rate %",
    ]
    site_ids = [site.pk for site in report_data]
    expected = selectors.report_daily(site_ids=site_ids, period=PERIOD)
    assert [row[0] for row in rows] == [day.day.isoformat() for day in expected]
    for row, day in zip(rows, expected, strict=True):
        assert int(row[1]) == day.conversations
        assert int(row[2]) == day.bot_resolved
        assert int(row[3]) == day.human_needed
        assert float(row[4]) == pytest.approx(day.deflection_rate * 100, abs=0.05)
        assert float(row[5]) == pytest.approx(day.bot_first_response.median, abs=0.05)
        assert int(row[7]) == day.bot_first_response.count
    assert rows[0][5:7] == ["2.5", "70.9"]  # bot median and p90 on March 1st, both sites
    assert rows[1][8] == ""  # no human reply on March 2nd: no figure, not zero


def test_other_csv_tables(boss, report_data):
    site_a, _ = report_data
    reasons = parse_csv(boss.get(EXPORT, {**RANGE, "table": "escalations"}))
    assert reasons[1:] == [
        ["visitor asked for a person", "2"],
        ["LLM timed out", "1"],
        ["taken over by an agent", "1"],
    ]
    entries = parse_csv(boss.get(EXPORT, {**RANGE, "table": "kb_entries", "site": site_a.pk}))
    assert [row[1:] for row in entries[1:]] == [
        ["How long does shipping take?", "Shop A", "2"],
        ["What is your return policy?", "Shop A", "1"],
    ]
    comments = parse_csv(boss.get(EXPORT, {**RANGE, "table": "csat_comments"}))
    assert [row[2:4] for row in comments[1:]] == [["3", "Slow"], ["1", "Bad"]]
    assert boss.get(EXPORT, {**RANGE, "table": "nope"}).status_code == 400


def test_visitor_text_is_escaped_on_the_page_and_defused_in_csv(boss, report_data):
    site_a, _ = report_data
    conversation_create(
        site=site_a,
        started=at("2025-03-02", "12:00"),
        csat=2,
        comment='=HYPERLINK("http://evil.test","x")<script>alert(1)</script>',
    )
    body = boss.get(PAGE, RANGE).content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    comments = parse_csv(boss.get(EXPORT, {**RANGE, "table": "csat_comments"}))
    assert comments[1][3].startswith("'=HYPERLINK(")


def test_console_links_to_the_reports(boss):
    response = boss.get("/agent/")
    assert 'data-testid="reports-link"' in response.content.decode()
    config = json.loads(
        response.content.decode()
        .split('id="agent-config" type="application/json">')[1]
        .split("</script>")[0]
    )
    assert config["reportsUrl"] == PAGE


def test_page_renders_for_a_chinese_speaking_agent(boss, report_data):
    response = boss.get(PAGE, RANGE, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 200
    assert '<html lang="zh-Hans">' in response.content.decode()
    assert set(chart_data(response)["labels"]) >= {"botResolved", "humanNeeded", "csatAverage"}
