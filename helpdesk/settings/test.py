"""Test settings: embedded defaults unless DATABASE_URL / REDIS_URL are given."""

import tempfile
from pathlib import Path

from .base import *  # noqa: F403
from .base import DATABASES, env

DEBUG = False
SECRET_KEY = env.str("SECRET_KEY", default="test-only-secret-key-not-for-production-use-0123456789")
ALLOWED_HOSTS = ["testserver", "helpdesk.test", "localhost", "127.0.0.1"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_SQLITE_NAME", default="")}
HELPDESK_INPROCESS_SWEEPER = False
# The webhook tests' receivers listen on 127.0.0.1; one test turns this off.
WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = env.bool("WEBHOOKS_ALLOW_PRIVATE_ADDRESSES", default=True)
# Never a real mail server from the tests, whatever EMAIL_URL says.
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Uploaded attachments go to a scratch folder, never into the checkout.
MEDIA_ROOT = env.path("MEDIA_ROOT", default=Path(tempfile.gettempdir()) / "helpdesk-test-media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# The real Redis is shared with anything else on the machine: give this test
# run its own key and channel prefixes, and hand them to the processes the
# tests start (daphne, Celery) through the environment.
import os  # noqa: E402
import uuid  # noqa: E402

from .base import CACHES, CHANNEL_LAYERS, REDIS_URL  # noqa: E402

RUN_PREFIX = os.environ.setdefault("HELPDESK_TEST_PREFIX", f"hdtest-{uuid.uuid4().hex[:8]}")
if REDIS_URL:
    CACHES["default"]["KEY_PREFIX"] = RUN_PREFIX
    CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = RUN_PREFIX
    CELERY_TASK_DEFAULT_QUEUE = RUN_PREFIX
# Tests choose the runner explicitly; the integration tests start a real worker.
HELPDESK_LLM_RUNNER = env.str("HELPDESK_LLM_RUNNER", default="inline")
