"""The X-Helpdesk-Signature scheme, for senders and for receivers written in Python.

signature = hex(HMAC-SHA256(secret, f"{timestamp}.{raw_body}")), sent as
"v1=<hex>"; while a rotated-out secret is still honoured the header carries
both, "v1=<new>,v1=<old>". Signing the timestamp with the body stops a
captured request from being replayed later with a fresh timestamp.
"""

import hashlib
import hmac
import time

SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_SECONDS = 300


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def webhook_signature_header(*, secrets: list[str], timestamp: int, body: bytes) -> str:
    return ",".join(
        f"{SIGNATURE_VERSION}={webhook_signature(secret=secret, timestamp=timestamp, body=body)}"
        for secret in secrets
    )


def webhook_signature_verify(
    *,
    secret: str,
    body: bytes,
    timestamp_header: str,
    signature_header: str,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """What a receiver does: a fresh timestamp and one matching v1 signature."""
    try:
        timestamp = int(timestamp_header)
    except (TypeError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_seconds:
        return False
    expected = webhook_signature(secret=secret, timestamp=timestamp, body=body)
    for part in signature_header.split(","):
        version, _, value = part.strip().partition("=")
        if version == SIGNATURE_VERSION and hmac.compare_digest(value, expected):
            return True
    return False
