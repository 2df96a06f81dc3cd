"""A fake OpenAI-compatible LLM server for tests and local development (no real model).

``FakeLLMServer`` serves ``/v1/chat/completions`` (streaming and not), ``/v1/embeddings``
and ``/v1/models`` over real HTTP, records requests and can inject faults; see
``server.py`` for the behaviour and ``python -m conversations.fake_llm --help`` for the CLI.
"""

from .config import MODES, ConfigError, FakeLLMConfig
from .server import FakeLLMServer

__all__ = ["MODES", "ConfigError", "FakeLLMConfig", "FakeLLMServer"]
