"""The reports page and its CSV export (staff only, the sites the agent serves)."""

import secrets

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from conversations.agent_views import console_csp, staff_agent
from conversations.reports import selectors
from conversations.reports.charts import report_chart_data, report_summary_cards
from conversations.reports.csv_export import TABLES, report_csv
from conversations.reports.forms import ReportFilterForm
from helpdesk.models import Agent


def _filters(request: HttpRequest, agent: Agent) -> ReportFilterForm:
    return ReportFilterForm(request.GET, sites=selectors.report_sites_for_agent(agent=agent))


@require_GET
@staff_agent
def reports(request: HttpRequest, agent: Agent) -> HttpResponse:
    form = _filters(request, agent)
    context: dict = {"form": form, "sites": form.sites, "console_url": reverse("agent-console")}
    status = 200
    if form.is_valid():
        site_ids, period = form.site_ids, form.period
        daily = selectors.report_daily(site_ids=site_ids, period=period)
        reasons = selectors.report_escalation_reasons(site_ids=site_ids, period=period)
        context.update(
            period=period,
            selected_site=form.cleaned_data.get("site"),
            cards=report_summary_cards(
                summary=selectors.report_summary(site_ids=site_ids, period=period)
            ),
            reasons=reasons,
            kb_entries=selectors.report_top_kb_entries(site_ids=site_ids, period=period),
            unanswered=selectors.report_unanswered_questions(site_ids=site_ids, period=period),
            csat_comments=selectors.report_csat_comments(site_ids=site_ids, period=period),
            chart_data=report_chart_data(daily=daily, reasons=reasons),
            export_query=form.query_string(),
            tables=list(TABLES),
        )
    else:
        status = 400
        context.update(
            raw_from=request.GET.get("from", ""),
            raw_to=request.GET.get("to", ""),
            raw_site=request.GET.get("site", ""),
        )
    nonce = secrets.token_urlsafe(16)
    context["csp_nonce"] = nonce
    response = render(request, "agent/reports.html", context, status=status)
    response["Content-Security-Policy"] = console_csp(nonce)
    return response


@require_GET
@staff_agent
def reports_export(request: HttpRequest, agent: Agent) -> HttpResponse:
    form = _filters(request, agent)
    table = request.GET.get("table", "daily")
    if not form.is_valid():
        errors = "\n".join(str(error) for errors in form.errors.values() for error in errors)
        return HttpResponse(errors, status=400, content_type="text/plain; charset=utf-8")
    if table not in TABLES:
        message = _("The table must be one of: %(tables)s.") % {"tables": ", ".join(TABLES)}
        return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
    period = form.period
    body = report_csv(table=table, site_ids=form.site_ids, period=period)
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    filename = f"report-{table}-{period.start.isoformat()}-{period.end.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
