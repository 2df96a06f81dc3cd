"""Security tests reuse the socket helpers of tests/conversations and the browser fixtures."""

from tests.browser.conftest import browser, page, product  # noqa: F401
from tests.conversations.conftest import (  # noqa: F401
    agent_factory,
    fake_llm,
    no_llm,
    visitor_factory,
)
