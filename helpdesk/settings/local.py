"""Laptop settings: DEBUG on, embedded defaults from base."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
# On a laptop /metrics answers curl from the same machine without a token.
METRICS_INTERNAL_IPS = env.list("METRICS_INTERNAL_IPS", default=["127.0.0.1", "::1"])
# Receivers on a laptop listen on localhost; production refuses private addresses.
WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = env.bool("WEBHOOKS_ALLOW_PRIVATE_ADDRESSES", default=True)
