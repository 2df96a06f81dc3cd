"""The `--site KEY` option the kb commands share."""

from django.core.management.base import CommandError

from helpdesk.models import Site
from kb.selectors import site_by_key
from kb.services import site_default_get_or_create


def site_resolve(key: str | None) -> Site:
    if not key:
        return site_default_get_or_create()
    site = site_by_key(key=key)
    if site is None:
        raise CommandError(f"no site with public key or id {key!r}")
    return site
