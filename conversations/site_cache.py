"""A per-process cache of Sites by public key, for the widget's connect path.

Every visitor connect looks its Site up by public key (origin check, bot
settings). At a connect storm that query was one ORM round trip per socket; here
it is one read of a shared version counter (the Django cache: Redis in
production) while the process's copy is fresh.

Saving or deleting any Site bumps the counter (and again after the commit), so an admin
change (allowed origins, say) applies to the next connect in every process.
The TTL bounds how long a change that skips `save()` (a queryset `update()`)
can go unseen.
"""

import copy
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from helpdesk.config_versions import config_version_bump, config_version_get
from helpdesk.models import Site

SITES_SCOPE = "sites"
# Unknown keys are cached too (a flood of bad keys stays off the database), so
# the table is bounded: past this many keys it starts again.
MAX_KEYS = 10_000

_lock = threading.Lock()
# public key -> (counter value when read, monotonic time read, the Site or None)
_sites: dict[str, tuple[int, float, Site | None]] = {}


def site_cached_get(*, public_key: str, load: Callable[[], Site | None]) -> Site | None:
    """The Site for `public_key`, from this process's copy while the counter has not moved."""
    # Read the counter before the row: a save committed in between then leaves
    # a newer counter behind, and the next lookup reloads.
    ttl = settings.SITE_CACHE_SECONDS
    if ttl <= 0:
        return load()
    version = config_version_get(scope=SITES_SCOPE)
    now = _now()
    with _lock:
        entry = _sites.get(public_key)
    if entry is not None and entry[0] == version and now - entry[1] < ttl:
        site = entry[2]
    else:
        site = load()
        with _lock:
            if len(_sites) >= MAX_KEYS:
                _sites.clear()
            _sites[public_key] = (version, now, site)
    # Callers get their own instance: one consumer changing an attribute must
    # not change it for every other socket of the process.
    return copy.copy(site)


def _now() -> float:
    return time.monotonic()


def site_cache_clear() -> None:
    with _lock:
        _sites.clear()


@receiver(post_save, sender=Site, dispatch_uid="site_cache_saved")
@receiver(post_delete, sender=Site, dispatch_uid="site_cache_deleted")
def _site_changed(**_kwargs) -> None:
    # Now, so this process (and its own transaction) reads the change at once;
    # and again after the commit, because another process may have reloaded
    # the old row in between and stored it under the first bump.
    config_version_bump(scope=SITES_SCOPE)
    transaction.on_commit(lambda: config_version_bump(scope=SITES_SCOPE))
