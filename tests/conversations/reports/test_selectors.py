"""Report figures from real rows with known timings: counts, deflection, reasons,
first-response percentiles, CSAT, KB entries, unanswered questions, scope and edges."""

from datetime import date
from zoneinfo import ZoneInfo

import pytest

from conversations.reports import selectors
from conversations.reports.periods import ReportPeriod, percentile
from tests.conversations.reports.seeding import at, gap_create
from tests.factories import AgentFactory, SiteFactory, SuperUserFactory

pytestmark = pytest.mark.django_db

UTC = ZoneInfo("UTC")
PERIOD = ReportPeriod(start=date(2025, 3, 1), end=date(2025, 3, 3), tz=UTC)  # report_data's


def test_percentile_interpolates_between_closest_ranks():
    assert percentile(list(range(1, 11)), 0.5) == 5.5
    assert percentile(list(range(1, 11)), 0.9) == pytest.approx(9.1)
    assert percentile([7.0], 0.9) == 7.0
    assert percentile([], 0.5) is None


def test_summary_for_one_site(report_data):
    site_a, _ = report_data
    summary = selectors.report_summary(site_ids=[site_a.pk], period=PERIOD)
    assert summary.conversations == 7
    assert summary.human_needed == 3
    assert summary.bot_resolved == 4
    assert summary.deflection_rate == pytest.approx(4 / 7)
    assert summary.bot_first_response.count == 6
    assert summary.bot_first_response.median == pytest.approx(3.5)
    assert summary.bot_first_response.p90 == pytest.approx(5.5)
    assert summary.human_first_response.count == 2
    assert summary.human_first_response.median == pytest.approx(90)
    assert summary.human_first_response.p90 == pytest.approx(114)
    assert summary.csat_count == 3
    assert summary.csat_average == pytest.approx(4.0)


def test_summary_for_both_sites(report_data):
    site_a, site_b = report_data
    summary = selectors.report_summary(site_ids=[site_a.pk, site_b.pk], period=PERIOD)
    assert (summary.conversations, summary.human_needed) == (8, 4)
    assert summary.deflection_rate == pytest.approx(0.5)
    assert summary.bot_first_response.median == pytest.approx(4)
    assert summary.bot_first_response.p90 == pytest.approx(43.6)
    assert summary.human_first_response.median == pytest.approx(60)
    assert summary.human_first_response.p90 == pytest.approx(108)
    assert summary.csat_average == pytest.approx(3.25)


def test_daily_rows_cover_every_day_with_the_day_figures(report_data):
    site_a, _ = report_data
    rows = selectors.report_daily(site_ids=[site_a.pk], period=PERIOD)
    assert [row.day for row in rows] == [date(2025, 3, 1), date(2025, 3, 2), date(2025, 3, 3)]
    first, second, third = rows
    assert (first.conversations, first.bot_resolved, first.human_needed) == (4, 2, 2)
    assert first.deflection_rate == 0.5
    assert first.bot_first_response.median == pytest.approx(2)
    assert first.bot_first_response.p90 == pytest.approx(2.8)
    assert first.human_first_response.median == pytest.approx(90)
    assert first.human_first_response.p90 == pytest.approx(114)
    assert (first.csat_average, first.csat_count) == (4.0, 2)
    assert (second.conversations, second.human_needed) == (2, 1)
    assert second.bot_first_response.median == pytest.approx(4.5)
    assert second.bot_first_response.p90 == pytest.approx(4.9)
    assert second.human_first_response.count == 0
    assert second.human_first_response.median is None
    assert (second.csat_average, second.csat_count) == (4.0, 1)
    assert (third.conversations, third.deflection_rate) == (1, 1.0)
    assert third.csat_average is None


def test_daily_rows_for_days_without_conversations_are_empty(report_data):
    site_a, _ = report_data
    period = ReportPeriod(start=date(2025, 3, 5), end=date(2025, 3, 6), tz=UTC)
    rows = selectors.report_daily(site_ids=[site_a.pk], period=period)
    assert [(row.conversations, row.deflection_rate, row.csat_count) for row in rows] == [
        (0, None, 0),
        (0, None, 0),
    ]
    summary = selectors.report_summary(site_ids=[site_a.pk], period=period)
    assert summary.deflection_rate is None and summary.bot_first_response.median is None


def test_days_are_cut_in_the_report_time_zone(report_data):
    site_a, _ = report_data
    shanghai = ZoneInfo("Asia/Shanghai")
    # In Shanghai (UTC+8) 2025-02-28 23:59:59 UTC is already March 1st, and both
    # 2025-03-03 23:59:59 UTC and 2025-03-04 00:00 UTC fall on March 4th.
    period = ReportPeriod(start=date(2025, 3, 1), end=date(2025, 3, 4), tz=shanghai)
    rows = selectors.report_daily(site_ids=[site_a.pk], period=period)
    assert [row.conversations for row in rows] == [5, 2, 0, 2]


def test_escalation_reasons_most_frequent_first_and_the_rest_as_other(report_data):
    site_a, site_b = report_data
    reasons = selectors.report_escalation_reasons(site_ids=[site_a.pk, site_b.pk], period=PERIOD)
    assert [(r.reason, r.count) for r in reasons] == [
        ("visitor asked for a person", 2),
        ("LLM timed out", 1),
        ("taken over by an agent", 1),
    ]
    top = selectors.report_escalation_reasons(
        site_ids=[site_a.pk, site_b.pk], period=PERIOD, limit=1
    )
    assert [(r.reason, r.count) for r in top] == [("visitor asked for a person", 2), ("", 2)]


def test_top_kb_entries_count_answers_in_the_period(report_data):
    site_a, _ = report_data
    entries = selectors.report_top_kb_entries(site_ids=[site_a.pk], period=PERIOD)
    assert [(e.question, e.answers, e.site_name) for e in entries] == [
        ("How long does shipping take?", 2, "Shop A"),
        ("What is your return policy?", 1, "Shop A"),
    ]


def test_unanswered_questions_group_open_gaps_asked_in_the_period(report_data):
    site_a, site_b = report_data
    gap_create(site=site_a, question="Do you ship to Canada?", asked=at("2025-03-01"))
    gap_create(site=site_a, question="do you ship to canada", asked=at("2025-03-02"))
    gap_create(site=site_a, question="Do you ship to Canada?", asked=at("2025-02-27"))
    gap_create(site=site_a, question="Can I pay with PayPal?", asked=at("2025-03-02", "08:00"))
    gap_create(
        site=site_a, question="Is there a student discount?", asked=at("2025-03-02"), resolved=True
    )
    gap_create(site=site_b, question="Where is the ski rental?", asked=at("2025-03-02"))

    found = selectors.report_unanswered_questions(site_ids=[site_a.pk], period=PERIOD)
    assert [(q.question, q.count) for q in found] == [
        ("do you ship to canada", 2),
        ("Can I pay with PayPal?", 1),
    ]
    assert found[0].other_questions == ["Do you ship to Canada?"]
    both = selectors.report_unanswered_questions(site_ids=[site_a.pk, site_b.pk], period=PERIOD)
    assert {q.site_name for q in both} == {"Shop A", "Shop B"}


def test_csat_comments_latest_first_and_only_with_text(report_data):
    site_a, site_b = report_data
    comments = selectors.report_csat_comments(site_ids=[site_a.pk, site_b.pk], period=PERIOD)
    assert [(c.rating, c.comment, c.site_name) for c in comments] == [
        (3, "Slow", "Shop A"),
        (1, "Bad", "Shop B"),
    ]


def test_other_sites_never_leak_into_a_site_report(report_data):
    _, site_b = report_data
    summary = selectors.report_summary(site_ids=[site_b.pk], period=PERIOD)
    assert (summary.conversations, summary.csat_average) == (1, 1.0)
    assert selectors.report_top_kb_entries(site_ids=[site_b.pk], period=PERIOD) == []
    assert selectors.report_summary(site_ids=[], period=PERIOD).conversations == 0


def test_sites_for_agent_respect_the_agent_profile():
    site_a, site_b = SiteFactory(), SiteFactory()
    restricted = AgentFactory()
    restricted.sites.set([site_a])
    everywhere = AgentFactory()
    boss = AgentFactory(user=SuperUserFactory())
    boss.sites.set([site_a])
    assert selectors.report_sites_for_agent(agent=restricted) == [site_a]
    assert set(selectors.report_sites_for_agent(agent=everywhere)) == {site_a, site_b}
    assert set(selectors.report_sites_for_agent(agent=boss)) == {site_a, site_b}
