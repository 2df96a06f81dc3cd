"""Admin for webhook endpoints and their delivery log. Registered from helpdesk/admin.py."""

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from helpdesk.webhooks import selectors, services
from helpdesk.webhooks.models import SUBSCRIBABLE_EVENTS, WebhookDelivery, WebhookEndpoint


class WebhookEndpointForm(forms.ModelForm):
    events = forms.MultipleChoiceField(
        label=gettext_lazy("Events"),
        choices=[(event, event) for event in SUBSCRIBABLE_EVENTS],
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("The event types this endpoint receives."),
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("site", "url", "description", "events", "is_active")


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    change_form_template = "admin/helpdesk/webhookendpoint/change_form.html"
    list_display = (
        "url",
        "site",
        "event_list",
        "is_active",
        "consecutive_failures",
        "last_delivery",
        "created_at",
    )
    list_filter = ("is_active", "site")
    search_fields = ("url", "description", "site__name")
    list_select_related = ("site",)
    actions = ("send_test_event", "rotate_secret", "enable_endpoints", "disable_endpoints")
    readonly_fields = (
        "signing_secret",
        "consecutive_failures",
        "disabled_at",
        "disabled_reason",
        "created_at",
        "updated_at",
        "recent_deliveries",
    )
    fieldsets = (
        (None, {"fields": ("site", "url", "description", "events", "is_active")}),
        (gettext_lazy("Signing"), {"fields": ("signing_secret",)}),
        (
            gettext_lazy("Health"),
            {"fields": ("consecutive_failures", "disabled_at", "disabled_reason")},
        ),
        (gettext_lazy("Deliveries"), {"fields": ("recent_deliveries",)}),
        (gettext_lazy("Timestamps"), {"fields": ("created_at", "updated_at")}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookEndpoint]:
        return selectors.webhook_endpoints_with_last_delivery(super().get_queryset(request))

    def get_urls(self) -> list:
        def wrap(view: Any) -> Any:
            return self.admin_site.admin_view(require_POST(view))

        return [
            path(
                "<int:endpoint_id>/rotate-secret/",
                wrap(self.rotate_secret_view),
                name="helpdesk_webhookendpoint_rotate_secret",
            ),
            path(
                "<int:endpoint_id>/ping/",
                wrap(self.ping_view),
                name="helpdesk_webhookendpoint_ping",
            ),
            *super().get_urls(),
        ]

    def save_model(
        self, request: HttpRequest, obj: WebhookEndpoint, form: forms.ModelForm, change: bool
    ) -> None:
        toggled = change and "is_active" in form.changed_data
        if toggled:
            # Saved unchanged here; the services record the switch with its bookkeeping.
            obj.is_active = not obj.is_active
        super().save_model(request, obj, form, change)
        if not toggled:
            return
        if form.cleaned_data["is_active"]:
            services.webhook_endpoint_enable(endpoint_id=obj.pk)
        else:
            services.webhook_endpoint_disable(
                endpoint_id=obj.pk,
                reason=_("Disabled by %(user)s.") % {"user": request.user.get_username()},
            )
        obj.refresh_from_db()

    @admin.display(description=gettext_lazy("Events"))
    def event_list(self, obj: WebhookEndpoint) -> str:
        return ", ".join(obj.events or [])

    @admin.display(description=gettext_lazy("Last delivery"))
    def last_delivery(self, obj: WebhookEndpoint) -> str:
        status = getattr(obj, "last_delivery_status", None)
        if status is None:
            return "-"
        label = WebhookDelivery.Status(status).label
        code = getattr(obj, "last_response_status", None)
        return f"{label} ({code})" if code else str(label)

    @admin.display(description=gettext_lazy("Signing secret"))
    def signing_secret(self, obj: WebhookEndpoint) -> str:
        if not obj.pk:
            return _("Generated when the endpoint is saved.")
        return format_html(
            '<code data-testid="webhook-secret">{}</code><p class="help">{}</p>',
            obj.secret,
            _(
                "Verify X-Helpdesk-Signature with this secret (docs/api.md). After a "
                "rotation the old secret signs too, for 24 hours."
            ),
        )

    @admin.display(description=gettext_lazy("Recent deliveries"))
    def recent_deliveries(self, obj: WebhookEndpoint) -> str:
        if not obj.pk:
            return "-"
        rows = selectors.webhook_deliveries_recent(endpoint_id=obj.pk)
        if not rows:
            return _("None yet.")
        table = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:helpdesk_webhookdelivery_change", args=[row.pk]),
                    row.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                    row.event,
                    row.get_status_display(),
                    row.response_status or row.error[:80] or "-",
                    row.attempts,
                )
                for row in rows
            ),
        )
        all_url = reverse("admin:helpdesk_webhookdelivery_changelist")
        return format_html(
            "<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>{}</table>"
            '<p><a href="{}?endpoint__id__exact={}">{}</a></p>',
            _("Created"),
            _("Event"),
            _("Status"),
            _("Response"),
            _("Attempts"),
            table,
            all_url,
            obj.pk,
            _("All deliveries"),
        )

    @admin.action(description=gettext_lazy("Send a test event (ping)"))
    def send_test_event(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            services.webhook_endpoint_ping(endpoint_id=endpoint.pk)
        self.message_user(
            request,
            ngettext(
                "A ping was sent to %(count)d endpoint; see its deliveries.",
                "A ping was sent to %(count)d endpoints; see their deliveries.",
                len(queryset),
            )
            % {"count": len(queryset)},
        )

    @admin.action(description=gettext_lazy("Rotate the signing secret"))
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            services.webhook_endpoint_secret_rotate(endpoint_id=endpoint.pk)
        self.message_user(
            request,
            _("New secrets made; the old ones keep signing for 24 hours."),
            messages.WARNING,
        )

    @admin.action(description=gettext_lazy("Enable (and reset the failure count)"))
    def enable_endpoints(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            services.webhook_endpoint_enable(endpoint_id=endpoint.pk)
        self.message_user(request, _("Enabled."))

    @admin.action(description=gettext_lazy("Disable"))
    def disable_endpoints(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        reason = _("Disabled by %(user)s.") % {"user": request.user.get_username()}
        for endpoint in queryset:
            services.webhook_endpoint_disable(endpoint_id=endpoint.pk, reason=reason)
        self.message_user(request, _("Disabled."))

    def rotate_secret_view(self, request: HttpRequest, endpoint_id: int) -> HttpResponseRedirect:
        endpoint = get_object_or_404(WebhookEndpoint, pk=endpoint_id)
        if not self.has_change_permission(request, endpoint):
            raise PermissionDenied
        services.webhook_endpoint_secret_rotate(endpoint_id=endpoint.pk)
        self.message_user(
            request, _("New secret made; the old one keeps signing for 24 hours."), messages.WARNING
        )
        return HttpResponseRedirect(
            reverse("admin:helpdesk_webhookendpoint_change", args=[endpoint.pk])
        )

    def ping_view(self, request: HttpRequest, endpoint_id: int) -> HttpResponseRedirect:
        endpoint = get_object_or_404(WebhookEndpoint, pk=endpoint_id)
        if not self.has_change_permission(request, endpoint):
            raise PermissionDenied
        services.webhook_endpoint_ping(endpoint_id=endpoint.pk)
        self.message_user(request, _("A ping was sent; its delivery appears below."))
        return HttpResponseRedirect(
            reverse("admin:helpdesk_webhookendpoint_change", args=[endpoint.pk])
        )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """The delivery log: read-only, with redelivery."""

    list_display = (
        "created_at",
        "event",
        "endpoint",
        "status",
        "response_status",
        "attempts",
        "duration_ms",
        "next_attempt_at",
    )
    list_filter = ("status", "event", "endpoint")
    search_fields = ("event_id", "endpoint__url")
    list_select_related = ("endpoint",)
    actions = ("redeliver",)
    date_hierarchy = "created_at"
    fields = (
        "endpoint",
        "event",
        "event_id",
        "status",
        "attempts",
        "response_status",
        "error",
        "duration_ms",
        "response_body_excerpt",
        "attempt_history",
        "payload_pretty",
        "created_at",
        "next_attempt_at",
        "delivered_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_redeliver_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("helpdesk.change_webhookendpoint")

    @admin.display(description=gettext_lazy("Payload"))
    def payload_pretty(self, obj: WebhookDelivery) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2, ensure_ascii=False))

    @admin.display(description=gettext_lazy("Attempts made"))
    def attempt_history(self, obj: WebhookDelivery) -> str:
        if not obj.attempt_log:
            return "-"
        return format_html_join(
            "",
            "<div>#{} {} — {}{} ({} ms)</div>",
            (
                (
                    entry.get("attempt"),
                    entry.get("at"),
                    entry.get("status") or "",
                    entry.get("error") or "",
                    entry.get("duration_ms"),
                )
                for entry in obj.attempt_log
            ),
        )

    @admin.action(description=gettext_lazy("Redeliver"), permissions=["redeliver"])
    def redeliver(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        sent = skipped = 0
        for delivery in queryset:
            if services.webhook_delivery_redeliver(delivery_id=delivery.pk) is None:
                skipped += 1
            else:
                sent += 1
        if sent:
            self.message_user(
                request,
                ngettext(
                    "%(count)d delivery queued again.",
                    "%(count)d deliveries queued again.",
                    sent,
                )
                % {"count": sent},
            )
        if skipped:
            self.message_user(
                request,
                ngettext(
                    "%(count)d delivery skipped: its endpoint is disabled.",
                    "%(count)d deliveries skipped: their endpoints are disabled.",
                    skipped,
                )
                % {"count": skipped},
                messages.WARNING,
            )
