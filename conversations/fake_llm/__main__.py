"""``python -m conversations.fake_llm --port 8011``: run the fake LLM server."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
