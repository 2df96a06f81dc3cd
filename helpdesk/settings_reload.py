"""SIGHUP re-reads the settings that a running web or worker process can safely change.

What staff edit in the admin (Site rows, KB, sensitive words, canned
responses) lives in the database and reaches every process on its next
message by itself: Site rows are read per message, the KB index and word lists
follow the version counters in helpdesk.config_versions. This module is the other
half, what comes from the environment file and the process environment.

A process's environment cannot change from outside, so on a reload the
environment file (``ENV_FILE``, the compose ``.env``) wins over it. Only a
value whose source changed since the last read is applied: a reload with no
edit changes nothing, and a value a command set in code (``serve --fake-llm``
sets OPENAI_BASE_URL) survives an unrelated reload. Everything else the file
holds (secrets, DATABASE_URL, REDIS_URL, LOG_FORMAT, ...) needs a restart; a
change to it is named in the log, never its value. A reload with one invalid
value applies nothing.
"""

import logging
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import environ
from django.conf import settings

logger = logging.getLogger(__name__)

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _log_level(env: environ.Env) -> str:
    level = env.str("LOG_LEVEL", default="INFO").strip().upper()
    if level not in _LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(_LOG_LEVELS)}")
    return level


def _optional_url(env: environ.Env) -> str | None:
    url = env.str("OPENAI_BASE_URL", default="").strip()
    if url and urlsplit(url).scheme not in ("http", "https"):
        raise ValueError("must be an http(s) URL or empty")
    return url or None


def _non_empty(name: str, default: str) -> Callable[[environ.Env], str]:
    def read(env: environ.Env) -> str:
        value = env.str(name, default=default).strip()
        if not value:
            raise ValueError("must not be empty")
        return value

    return read


def _int_at_least(name: str, default: int, minimum: int) -> Callable[[environ.Env], int]:
    def read(env: environ.Env) -> int:
        value = env.int(name, default=default)
        if value < minimum:
            raise ValueError(f"must be at least {minimum}")
        return value

    return read


def _float_at_least(name: str, default: float, minimum: float) -> Callable[[environ.Env], float]:
    def read(env: environ.Env) -> float:
        value = env.float(name, default=default)
        if value < minimum:
            raise ValueError(f"must be at least {minimum}")
        return value

    return read


# Every value here is read from django.conf.settings at the moment it is used
# (conversations/llm.py, limits.py, replies/, consumers/frames.py,
# graceful_shutdown.py), so changing the setting is all a reload has to do.
# The defaults repeat helpdesk/settings/base.py; a test keeps them equal.
RELOADABLE: dict[str, Callable[[environ.Env], Any]] = {
    "LOG_LEVEL": _log_level,
    "OPENAI_BASE_URL": _optional_url,
    "OPENAI_MODEL": _non_empty("OPENAI_MODEL", "gpt-4o-mini"),
    "LLM_RETRIES_BEFORE_FIRST_TOKEN": _int_at_least("LLM_RETRIES_BEFORE_FIRST_TOKEN", 2, 0),
    "VISITOR_MESSAGES_PER_MINUTE": _int_at_least("VISITOR_MESSAGES_PER_MINUTE", 20, 0),
    "IP_MESSAGES_PER_MINUTE": _int_at_least("IP_MESSAGES_PER_MINUTE", 60, 0),
    "IP_CONNECTIONS_PER_MINUTE": _int_at_least("IP_CONNECTIONS_PER_MINUTE", 60, 0),
    "VISITOR_MAX_SOCKETS": _int_at_least("VISITOR_MAX_SOCKETS", 5, 1),
    "MAX_MESSAGE_LENGTH": _int_at_least("MAX_MESSAGE_LENGTH", 4000, 1),
    "SHUTDOWN_GRACE_SECONDS": _float_at_least("SHUTDOWN_GRACE_SECONDS", 10.0, 0.0),
}


@dataclass
class ReloadReport:
    changed: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    restart_needed: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sources: dict[str, str] | None = None
        self.file_names: set[str] = set()
        # Celery's prefork pool: a counter in memory shared with the pool's
        # children, moved by the main process on SIGHUP.
        self.generation: Any = None
        self.generation_seen = 0


_state = _State()


def env_file_path() -> Path:
    return Path(getattr(settings, "ENV_FILE", "") or Path(settings.BASE_DIR) / ".env")


def env_file_values(path: Path) -> dict[str, str]:
    """The file's variables, parsed as django-environ does at start, os.environ untouched."""
    if not path.is_file():
        return {}
    parsed = type("EnvFileOnly", (environ.Env,), {"ENVIRON": {}})
    parsed.read_env(path, overwrite=True)
    return dict(parsed.ENVIRON)


def _sources_read() -> tuple[dict[str, str], set[str]]:
    from_file = env_file_values(env_file_path())
    return {**os.environ, **from_file}, set(from_file)


def settings_reload_baseline() -> None:
    """Remember the sources as they are now; a reload applies what differs from them."""
    with _state.lock:
        _state.sources, _state.file_names = _sources_read()


def settings_reload() -> ReloadReport:
    """Re-read the environment file and environment, apply the reloadable changes, log them."""
    with _state.lock:
        report = ReloadReport()
        sources, file_names = _sources_read()
        if _state.sources is None:
            _state.sources, _state.file_names = sources, file_names
            logger.warning("settings reload: no earlier read to compare with; baseline taken")
            return report
        names = set(sources) | set(_state.sources)
        moved = sorted(n for n in names if sources.get(n) != _state.sources.get(n))
        # Only the file can change from outside; the process's own edits of
        # os.environ (Celery, the test settings) are not an operator's.
        in_file = file_names | _state.file_names
        report.restart_needed = [n for n in moved if n not in RELOADABLE and n in in_file]
        wanted: dict[str, Any] = {}
        parser = environ.Env()
        parser.ENVIRON = sources
        for name in (n for n in moved if n in RELOADABLE):
            try:
                wanted[name] = RELOADABLE[name](parser)
            except (ValueError, environ.ImproperlyConfigured) as exc:
                report.errors[name] = str(exc)
        for name in report.restart_needed:
            logger.warning("settings reload: %s changed but needs a restart to apply", name)
        if report.errors:
            for name, reason in report.errors.items():
                logger.error("settings reload refused: %s %s; nothing was applied", name, reason)
            return report
        for name, value in wanted.items():
            old = getattr(settings, name, None)
            if old != value:
                report.changed[name] = (old, value)
        _apply(report.changed)
        _state.sources, _state.file_names = sources, file_names
        for name, (old, new) in report.changed.items():
            # WARNING, not INFO: an operator's change must show at any LOG_LEVEL below ERROR.
            logger.warning(
                "settings reloaded: %s %s -> %s", name, _shown(name, old), _shown(name, new)
            )
        if not report.changed and not report.restart_needed:
            logger.warning("settings reload: nothing changed (ENV_FILE=%s)", env_file_path())
        return report


def _apply(changed: dict[str, tuple[Any, Any]]) -> None:
    for name, (_old, new) in changed.items():
        setattr(settings, name, new)
    if "LOG_LEVEL" in changed:
        level = changed["LOG_LEVEL"][1]
        # The loggers LOGGING configures are exactly the ones that follow LOG_LEVEL.
        loggers = {
            name: {**config, "level": level}
            for name, config in settings.LOGGING.get("loggers", {}).items()
        }
        settings.LOGGING = {**settings.LOGGING, "loggers": loggers}
        for name in loggers:
            logging.getLogger(name).setLevel(level)


def _shown(name: str, value: Any) -> str:
    """A value for the log: URLs lose any user, password and query they carry."""
    if name.endswith("_URL") and isinstance(value, str):
        parts = urlsplit(value)
        if parts.username or parts.password or parts.query:
            host = parts.hostname or ""
            netloc = f"{host}:{parts.port}" if parts.port else host
            value = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return repr(value)


# --- SIGHUP ----------------------------------------------------------------------------


def _on_sighup(signum: int, frame: Any) -> None:
    if _state.generation is not None:
        _state.generation.value += 1
        _state.generation_seen = _state.generation.value
    # A signal handler interrupts whatever the main thread was doing (maybe
    # holding the logging lock); the reload runs on a thread of its own.
    threading.Thread(target=settings_reload, name="settings-reload", daemon=True).start()


def sighup_reload_install() -> bool:
    """Make SIGHUP reload settings in this process; False off the main thread (it cannot)."""
    if threading.current_thread() is not threading.main_thread():
        # e.g. runserver's autoreloader runs the server on a thread of its own.
        logger.info("SIGHUP reload not installed: not on the main thread")
        return False
    if _state.sources is None:
        settings_reload_baseline()
    signal.signal(signal.SIGHUP, _on_sighup)
    return True


def daphne_sighup_install() -> bool:
    """SIGHUP reloads in a daphne process; False when not running under daphne.

    Not loop.add_signal_handler: Twisted's reactor takes signal.set_wakeup_fd
    for SIGCHLD when it starts, which would silence asyncio's handlers. Twisted
    leaves SIGHUP alone, so a plain handler is safe.
    """
    if "daphne.server" not in sys.modules:
        return False
    return sighup_reload_install()


def worker_reload_prepare() -> None:
    """In a Celery worker's main process, before the pool starts any child.

    Prefork children cannot take SIGHUP themselves: billiard points it at its
    own exit handler after every hook Celery offers. So they look at a counter
    in shared memory before each task instead (`pool_reload_if_signalled`),
    and inherit the baseline the main process takes here.
    """
    settings_reload_baseline()
    _state.generation = multiprocessing.RawValue("Q", 0)
    _state.generation_seen = 0


def pool_reload_if_signalled() -> None:
    """Before a task: reload if the main process took a SIGHUP since this process last did."""
    generation = _state.generation
    if generation is not None and generation.value != _state.generation_seen:
        _state.generation_seen = generation.value
        settings_reload()
