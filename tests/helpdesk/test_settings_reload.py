"""What a reload (SIGHUP) changes, what it refuses, and what it logs.

The two-process proof (daphne and a Celery worker) is in
test_settings_reload_processes.py.
"""

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import environ
import pytest

from conversations.limits import visitor_message_allowed
from conversations.llm import llm_client
from helpdesk import settings_reload
from helpdesk.settings_reload import (
    RELOADABLE,
    daphne_sighup_install,
    env_file_values,
    pool_reload_if_signalled,
    settings_reload_baseline,
    sighup_reload_install,
    worker_reload_prepare,
)

ROOT = Path(__file__).resolve().parents[2]
LOGGER = "helpdesk.settings_reload"


@pytest.fixture(autouse=True)
def fresh_state(monkeypatch):
    monkeypatch.setattr(settings_reload, "_state", settings_reload._State())
    for name in RELOADABLE:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def env_file(tmp_path, settings):
    path = tmp_path / "helpdesk.env"
    path.write_text("")
    settings.ENV_FILE = path

    def write(**values: str) -> Path:
        path.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
        return path

    return write


@pytest.fixture
def logger_levels():
    names = ("helpdesk", "kb", "conversations", "celery")
    saved = {name: logging.getLogger(name).level for name in names}
    yield
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


def reload_logged(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


def test_a_changed_value_in_the_file_wins_over_the_environment_and_is_logged(
    env_file, settings, monkeypatch, caplog
):
    settings.OPENAI_MODEL = "model-a"
    env_file(OPENAI_MODEL="model-a")
    monkeypatch.setenv("OPENAI_MODEL", "from-the-environment")
    settings_reload_baseline()
    env_file(OPENAI_MODEL="model-b")

    with caplog.at_level(logging.INFO, logger=LOGGER):
        report = settings_reload.settings_reload()

    assert settings.OPENAI_MODEL == "model-b"
    assert report.changed == {"OPENAI_MODEL": ("model-a", "model-b")}
    assert reload_logged(caplog) == ["settings reloaded: OPENAI_MODEL 'model-a' -> 'model-b'"]


def test_one_line_per_changed_setting_and_none_for_an_unchanged_one(env_file, settings, caplog):
    settings.VISITOR_MESSAGES_PER_MINUTE = 20
    settings.MAX_MESSAGE_LENGTH = 4000
    env_file(VISITOR_MESSAGES_PER_MINUTE="20")
    settings_reload_baseline()
    env_file(VISITOR_MESSAGES_PER_MINUTE="5", MAX_MESSAGE_LENGTH="4000", SHUTDOWN_GRACE_SECONDS="3")

    with caplog.at_level(logging.INFO, logger=LOGGER):
        settings_reload.settings_reload()

    assert sorted(reload_logged(caplog)) == [
        "settings reloaded: SHUTDOWN_GRACE_SECONDS 10.0 -> 3.0",
        "settings reloaded: VISITOR_MESSAGES_PER_MINUTE 20 -> 5",
    ]
    assert settings.VISITOR_MESSAGES_PER_MINUTE == 5
    assert settings.SHUTDOWN_GRACE_SECONDS == 3.0


def test_a_reload_without_an_edit_changes_nothing_not_even_values_set_in_code(
    env_file, settings, caplog
):
    env_file(OPENAI_BASE_URL="http://127.0.0.1:9/v1", OPENAI_MODEL="model-a")
    settings_reload_baseline()
    # `serve --fake-llm` points the process at its own server in code.
    settings.OPENAI_BASE_URL = "http://127.0.0.1:7/v1"

    with caplog.at_level(logging.INFO, logger=LOGGER):
        report = settings_reload.settings_reload()

    assert report.changed == {} and report.restart_needed == [] and report.errors == {}
    assert settings.OPENAI_BASE_URL == "http://127.0.0.1:7/v1"
    assert reload_logged(caplog)[0].startswith("settings reload: nothing changed")


def test_a_line_removed_from_the_file_falls_back_to_the_default(env_file, settings):
    settings.OPENAI_MODEL = "model-a"
    env_file(OPENAI_MODEL="model-a")
    settings_reload_baseline()
    env_file()

    settings_reload.settings_reload()

    assert settings.OPENAI_MODEL == "gpt-4o-mini"


def test_secrets_and_connections_are_refused_and_named_without_their_values(
    env_file, settings, caplog
):
    database = "postgres://helpdesk:old-password@db:5432/helpdesk"
    env_file(SECRET_KEY="old-secret", DATABASE_URL=database, OPENAI_API_KEY="sk-old")
    settings_reload_baseline()
    secret_before = settings.SECRET_KEY
    env_file(
        SECRET_KEY="new-secret",
        DATABASE_URL=database.replace("old-password", "new-password"),
        OPENAI_API_KEY="sk-new",
        REDIS_URL="redis://:redis-password@cache:6379/0",
    )

    with caplog.at_level(logging.INFO, logger=LOGGER):
        report = settings_reload.settings_reload()

    assert report.restart_needed == ["DATABASE_URL", "OPENAI_API_KEY", "REDIS_URL", "SECRET_KEY"]
    assert report.changed == {}
    assert secret_before == settings.SECRET_KEY
    assert "settings reload: SECRET_KEY changed but needs a restart to apply" in caplog.text
    for value in ("secret", "password", "sk-"):
        assert value not in caplog.text.replace("SECRET_KEY", "")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LOG_LEVEL", "LOUD"),
        ("VISITOR_MESSAGES_PER_MINUTE", "lots"),
        ("VISITOR_MAX_SOCKETS", "0"),
        ("IP_MESSAGES_PER_MINUTE", "-1"),
        ("OPENAI_BASE_URL", "ftp://llm.example/v1"),
        ("OPENAI_MODEL", " "),
        ("SHUTDOWN_GRACE_SECONDS", "soon"),
    ],
)
def test_one_invalid_value_applies_nothing_until_it_is_fixed(
    env_file, settings, caplog, name, value
):
    settings.MAX_MESSAGE_LENGTH = 4000
    settings_reload_baseline()
    before = getattr(settings, name)
    env_file(MAX_MESSAGE_LENGTH="100", **{name: value})

    with caplog.at_level(logging.INFO, logger=LOGGER):
        report = settings_reload.settings_reload()

    assert list(report.errors) == [name]
    assert settings.MAX_MESSAGE_LENGTH == 4000
    assert getattr(settings, name) == before
    assert f"settings reload refused: {name}" in caplog.text

    env_file(MAX_MESSAGE_LENGTH="100")
    settings_reload.settings_reload()
    assert settings.MAX_MESSAGE_LENGTH == 100


def test_log_level_applies_to_every_configured_logger(env_file, settings, logger_levels):
    settings.LOG_LEVEL = "INFO"
    settings_reload_baseline()
    env_file(LOG_LEVEL="debug")

    settings_reload.settings_reload()

    assert settings.LOG_LEVEL == "DEBUG"
    for name in settings.LOGGING["loggers"]:
        assert logging.getLogger(name).level == logging.DEBUG
        assert settings.LOGGING["loggers"][name]["level"] == "DEBUG"


def test_urls_are_logged_without_credentials_or_query(env_file, settings, caplog):
    settings.OPENAI_BASE_URL = None
    settings_reload_baseline()
    env_file(OPENAI_BASE_URL="https://user:hunter2@llm.example:8443/v1?api-key=abc123")

    with caplog.at_level(logging.INFO, logger=LOGGER):
        settings_reload.settings_reload()

    assert settings.OPENAI_BASE_URL == "https://user:hunter2@llm.example:8443/v1?api-key=abc123"
    assert reload_logged(caplog) == [
        "settings reloaded: OPENAI_BASE_URL None -> 'https://llm.example:8443/v1'"
    ]


def test_the_llm_client_and_the_rate_limits_use_the_reloaded_values(env_file, settings):
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"
    settings.VISITOR_MESSAGES_PER_MINUTE = 100
    settings.IP_MESSAGES_PER_MINUTE = 0
    settings_reload_baseline()
    assert str(llm_client(timeout=1).base_url) == "http://127.0.0.1:9/v1/"
    env_file(OPENAI_BASE_URL="http://127.0.0.1:8/v1", VISITOR_MESSAGES_PER_MINUTE="1")

    settings_reload.settings_reload()

    assert str(llm_client(timeout=1).base_url) == "http://127.0.0.1:8/v1/"
    visitor_key = uuid.uuid4().hex
    # Three in a row: even if a minute's window ends between two, one of them is refused.
    verdicts = [
        visitor_message_allowed(visitor_key=visitor_key, ip_address=None).allowed for _ in range(3)
    ]
    assert verdicts[0] is True and False in verdicts


def test_reading_the_file_leaves_the_process_environment_alone(tmp_path, monkeypatch):
    monkeypatch.delenv("HOT_RELOAD_PROBE", raising=False)
    path = tmp_path / "helpdesk.env"
    path.write_text("HOT_RELOAD_PROBE=1\n# a comment\nQUOTED='a b'\n")

    assert env_file_values(path) == {"HOT_RELOAD_PROBE": "1", "QUOTED": "a b"}
    assert "HOT_RELOAD_PROBE" not in os.environ
    assert env_file_values(tmp_path / "missing.env") == {}


def test_the_defaults_are_those_of_the_settings_module(tmp_path):
    """A line removed from the file must fall back to what a fresh start would use."""
    names = sorted(RELOADABLE)
    code = (
        "import json; from helpdesk.settings import base; "
        f"print(json.dumps({{n: getattr(base, n) for n in {names!r}}}))"
    )
    env = {k: v for k, v in os.environ.items() if k not in RELOADABLE}
    env["ENV_FILE"] = str(tmp_path / "none.env")
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    empty = environ.Env()
    empty.ENVIRON = {}
    assert json.loads(result.stdout) == {name: RELOADABLE[name](empty) for name in names}


def test_sighup_reloads_this_process_without_stopping_it(env_file, settings):
    settings.OPENAI_MODEL = "model-a"
    previous = signal.getsignal(signal.SIGHUP)
    try:
        assert sighup_reload_install()
        env_file(OPENAI_MODEL="model-hup")
        os.kill(os.getpid(), signal.SIGHUP)
        for _ in range(200):
            if settings.OPENAI_MODEL == "model-hup":
                break
            time.sleep(0.05)
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert settings.OPENAI_MODEL == "model-hup"


def test_the_handler_needs_the_main_thread_and_daphne_installs_only_under_daphne(monkeypatch):
    results: list[bool] = []
    thread = threading.Thread(target=lambda: results.append(sighup_reload_install()))
    thread.start()
    thread.join()
    assert results == [False]

    monkeypatch.delitem(sys.modules, "daphne.server", raising=False)
    assert daphne_sighup_install() is False


def test_a_pool_child_reloads_once_before_its_next_task_after_the_main_process_took_sighup(
    env_file, settings, caplog
):
    settings.OPENAI_MODEL = "model-a"
    worker_reload_prepare()
    pool_reload_if_signalled()  # nothing signalled yet
    assert settings.OPENAI_MODEL == "model-a"
    env_file(OPENAI_MODEL="model-b")

    # What the main process's handler does to the counter the children share.
    settings_reload._state.generation.value += 1
    with caplog.at_level(logging.INFO, logger=LOGGER):
        pool_reload_if_signalled()
        pool_reload_if_signalled()

    assert settings.OPENAI_MODEL == "model-b"
    assert reload_logged(caplog) == ["settings reloaded: OPENAI_MODEL 'model-a' -> 'model-b'"]
