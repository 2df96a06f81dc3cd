"""Which URLs and addresses a webhook may be sent to.

http:// is accepted only with DEBUG on or for a receiver on this machine
(localhost, 127.0.0.1, ::1); everything else must be https://. Unless
WEBHOOKS_ALLOW_PRIVATE_ADDRESSES is on, a URL may not point at a loopback,
private, link-local or otherwise non-public address: a staff member must not
be able to make the server POST into its own network (SSRF). The literal
check here is the friendly error in the admin; transport.py checks again the
address it actually connects to, after DNS, so a name that resolves (or
re-resolves) to a private address is refused too.
"""

import ipaddress
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def address_is_allowed(address: str) -> bool:
    """Whether a resolved IP address may be connected to under the current settings."""
    if settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES:
        return True
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def webhook_url_validate(url: str) -> None:
    """Refuse a URL the delivery task would refuse; the message says why."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in ("http", "https") or not host:
        raise ValidationError(_("Enter an http:// or https:// URL."), code="scheme")
    if parts.username or parts.password:
        raise ValidationError(_("Put no user name or password in the URL."), code="credentials")
    if scheme == "http" and not (settings.DEBUG or host in LOCAL_HOSTS):
        raise ValidationError(
            _("Use https://; plain http:// is only for a receiver on this machine."),
            code="https_required",
        )
    if settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES:
        return
    if host == "localhost" or host.endswith(".localhost"):
        raise ValidationError(_("This server does not send webhooks to itself."), code="private")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        return  # a name: checked after resolution, at delivery
    if not address_is_allowed(str(literal)):
        raise ValidationError(
            _("This address is on a private network; webhooks go to public addresses only."),
            code="private",
        )
