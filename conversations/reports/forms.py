"""The reports page's filters: ?from=YYYY-MM-DD&to=YYYY-MM-DD&site=<id>."""

from collections.abc import Sequence
from datetime import date
from urllib.parse import urlencode

from django import forms
from django.utils.translation import gettext_lazy as _

from conversations.reports.periods import MAX_DAYS, ReportPeriod, report_period_default
from helpdesk.models import Site


class ReportFilterForm(forms.Form):
    """Empty fields take the defaults (the last 30 days, every site the agent serves);
    a site the agent does not serve is not a valid choice."""

    start = forms.DateField(
        label=_("From"),
        required=False,
        input_formats=["%Y-%m-%d"],
        error_messages={"invalid": _("Enter the start date as YYYY-MM-DD.")},
    )
    end = forms.DateField(
        label=_("To"),
        required=False,
        input_formats=["%Y-%m-%d"],
        error_messages={"invalid": _("Enter the end date as YYYY-MM-DD.")},
    )
    site = forms.TypedChoiceField(
        label=_("Site"),
        required=False,
        coerce=int,
        empty_value=None,
        error_messages={
            "invalid_choice": _("There is no such site among the sites you serve."),
        },
    )

    def __init__(self, data, *, sites: Sequence[Site], today: date | None = None) -> None:
        # The query string says from/to; `from` cannot be a field name in Python.
        renamed = {"start": data.get("from", ""), "end": data.get("to", "")}
        renamed["site"] = data.get("site", "")
        super().__init__(renamed)
        self.sites = list(sites)
        self.default_period = report_period_default(today=today)
        self.fields["site"].choices = [("", _("All my sites"))] + [
            (str(site.pk), site.name) for site in self.sites
        ]

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        start = cleaned.get("start") or self.default_period.start
        end = cleaned.get("end") or self.default_period.end
        if start > end:
            raise forms.ValidationError(_("The start date must not be after the end date."))
        if (end - start).days + 1 > MAX_DAYS:
            raise forms.ValidationError(_("Choose at most %(days)d days.") % {"days": MAX_DAYS})
        cleaned["period"] = ReportPeriod(start=start, end=end, tz=self.default_period.tz)
        site_id = cleaned.get("site")
        cleaned["site_ids"] = [site_id] if site_id else [site.pk for site in self.sites]
        return cleaned

    @property
    def period(self) -> ReportPeriod:
        return self.cleaned_data["period"]

    @property
    def site_ids(self) -> list[int]:
        return self.cleaned_data["site_ids"]

    def query_string(self) -> str:
        """The filters as given, for the CSV links."""
        period = self.period
        params = {"from": period.start.isoformat(), "to": period.end.isoformat()}
        if self.cleaned_data.get("site"):
            params["site"] = str(self.cleaned_data["site"])
        return urlencode(params)
