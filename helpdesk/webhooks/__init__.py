"""Outgoing webhooks: signed JSON POSTs of conversation events to each Site's endpoints.

The models live here and are imported by helpdesk/models.py, so they belong to
the helpdesk app (and its migrations). Writes in services.py, reads in
selectors.py, the HTTP client in transport.py, the Celery task in tasks.py.
"""
