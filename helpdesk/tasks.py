"""Celery's autodiscovery imports `<app>.tasks`; the helpdesk app's tasks live in subpackages."""

from helpdesk.webhooks.tasks import deliver_webhook, resume_webhook_deliveries

__all__ = ["deliver_webhook", "resume_webhook_deliveries"]
