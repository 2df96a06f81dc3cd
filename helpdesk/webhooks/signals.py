"""Forget a site's cached webhook subscriptions when its endpoints change."""

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from helpdesk.webhooks.models import WebhookEndpoint
from helpdesk.webhooks.selectors import webhook_site_subscribed_events_forget


@receiver([post_save, post_delete], sender=WebhookEndpoint)
def webhook_endpoint_changed(sender, instance: WebhookEndpoint, **kwargs) -> None:
    site_id = instance.site_id
    transaction.on_commit(lambda: webhook_site_subscribed_events_forget(site_id=site_id))
