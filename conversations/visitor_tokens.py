"""Signed visitor tokens: the widget's only credential, bound to one site.

The token carries the visitor's anonymous id and the site id, signed with
SECRET_KEY and timestamped; a token from another site, a tampered one or an
expired one reads as None.
"""

import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core import signing

SALT = "helpdesk.visitor-token"


@dataclass(frozen=True)
class VisitorClaim:
    anonymous_id: uuid.UUID
    site_id: int


def visitor_token_issue(*, anonymous_id: uuid.UUID, site_id: int) -> str:
    return signing.dumps({"v": str(anonymous_id), "s": site_id}, salt=SALT)


def visitor_token_read(*, token: str, site_id: int) -> VisitorClaim | None:
    max_age = settings.VISITOR_TOKEN_MAX_AGE_DAYS * 24 * 3600
    try:
        data = signing.loads(token, salt=SALT, max_age=max_age)
        claim = VisitorClaim(anonymous_id=uuid.UUID(data["v"]), site_id=int(data["s"]))
    except (signing.BadSignature, KeyError, ValueError, TypeError):
        return None
    return claim if claim.site_id == site_id else None
