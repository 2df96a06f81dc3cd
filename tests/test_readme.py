"""The README's two commands are the ones CI and a new user run."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def quick_start_commands() -> list[str]:
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section)


def test_quick_start_has_exactly_a_run_and_a_test_command():
    run, test = quick_start_commands()
    assert run.startswith("python3 -m venv .venv && ") and run.endswith("manage.py serve")
    assert test.startswith("python3 -m venv .venv && ") and test.endswith("-m tests")


def test_ci_runs_the_readme_test_command_verbatim():
    _, test = quick_start_commands()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "set -euo pipefail" in ci
    assert test in ci.splitlines()
    assert "DATABASE_URL=postgres://postgres@127.0.0.1:5432/test" in ci
    assert "REDIS_URL=redis://127.0.0.1:6379/0" in ci


def test_every_environment_variable_the_settings_read_is_documented():
    settings_text = "".join(p.read_text() for p in (ROOT / "helpdesk" / "settings").glob("*.py"))
    names = set(re.findall(r'env\.\w+\(\s*"([A-Z_]+)"', settings_text))
    names -= {"HELPDESK_TEST_PREFIX", "TEST_SQLITE_NAME"}  # test-only
    undocumented = sorted(name for name in names if f"`{name}`" not in README)
    assert not undocumented, f"document these in the README: {undocumented}"
