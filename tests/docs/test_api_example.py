"""docs/api.md's example client, run verbatim against the product started as the README
starts it (`manage.py serve --fake-llm`, embedded defaults): the curl session with bash,
the Python client with python. Their output must show a KB answer and the LLM reply that
came over the event stream."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.browser.conftest import ProductProcess

ROOT = Path(__file__).resolve().parents[2]
KB_ANSWER = "Orders ship within 1 business day."
LLM_REPLY = "This is a streamed answer from the test LLM server."


def example(kind: str) -> str:
    """The fenced block right after `<!-- example: KIND -->` in docs/api.md."""
    text = (ROOT / "docs" / "api.md").read_text()
    found = re.search(rf"<!-- example: {kind} -->\n```\w+\n(.*?)\n```", text, flags=re.DOTALL)
    assert found, f"no `{kind}` example in docs/api.md"
    return found.group(1)


@pytest.fixture(scope="module")
def product(tmp_path_factory):
    server = ProductProcess(tmp_path_factory.mktemp("api-example"))
    yield server.start()
    server.stop()


def run(command: list[str], code: str, base: str) -> str:
    env = {**os.environ, "HELPDESK_URL": base}
    result = subprocess.run(
        [*command, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_the_curl_example_runs_verbatim(product):
    out = run(["bash", "-e"], example("curl"), product.base)
    assert '"source":"kb"' in out.replace(" ", "") and KB_ANSWER in out
    # The event stream: the LLM's reply, streamed live or replayed as its saved message.
    assert "event: state" in out
    assert '"source":"llm"' in out.replace(" ", "") and LLM_REPLY in out


def test_the_python_example_runs_verbatim(product):
    out = run([sys.executable], example("python"), product.base)
    assert f"bot (kb): {KB_ANSWER}" in out
    streamed = re.search(r"bot \(llm, (\d+) streamed pieces\): (.*)", out)
    assert streamed, out
    assert int(streamed.group(1)) > 3 and streamed.group(2).startswith(LLM_REPLY)
    assert "streamed piece 0 " in out
