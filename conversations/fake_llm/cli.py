"""Command-line entry point shared by ``python -m conversations.fake_llm`` and
``manage.py fake_llm``: run the fake LLM server in the foreground until Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .config import FIELD_NAMES, MODES, ConfigError, FakeLLMConfig, updated_config
from .server import FakeLLMServer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the server options to ``parser`` (also used by the Django command)."""
    defaults = FakeLLMConfig()
    parser.add_argument("--host", default="127.0.0.1", help="Interface to bind.")
    parser.add_argument("--port", type=int, default=8011, help="Port to bind (0: any free).")
    parser.add_argument(
        "--ttft", type=float, help=f"Seconds before the first token (default {defaults.ttft})."
    )
    parser.add_argument(
        "--tokens-per-second",
        type=float,
        help="Pace of the reply pieces (default: as fast as possible).",
    )
    parser.add_argument(
        "--tokens-per-second-max",
        type=float,
        help="Each reply draws its pace between --tokens-per-second and this (default: off).",
    )
    parser.add_argument("--mode", choices=MODES, help="Behaviour / fault mode (default normal).")
    parser.add_argument("--reply", help="Reply text for normal mode.")
    parser.add_argument(
        "--chunk-count", type=int, help="Split the reply into N pieces (default: per word)."
    )
    parser.add_argument(
        "--stall-seconds",
        type=float,
        help=f"How long the stall modes stall (default {defaults.stall_seconds}).",
    )
    parser.add_argument("--model", help=f"Model name for /v1/models (default {defaults.model}).")
    parser.add_argument("--quiet", action="store_true", help="Do not log each request.")


def config_from_options(options: Mapping[str, Any]) -> FakeLLMConfig:
    """Config from parsed options; unset options keep the defaults. Raises ConfigError."""
    given = {name: options[name] for name in FIELD_NAMES if options.get(name) is not None}
    return updated_config(FakeLLMConfig(), given)


def log_requests(quiet: bool) -> None:
    """Log one line per API request to stderr, so a demo shows what the app asked for."""
    if quiet:
        return
    package_logger = logging.getLogger("conversations.fake_llm")
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s fake-llm %(message)s"))
    package_logger.addHandler(handler)
    package_logger.setLevel(logging.INFO)


def serve(
    host: str,
    port: int,
    config: FakeLLMConfig,
    announce: Callable[[str], None] = print,
) -> None:
    """Serve in the foreground until SIGINT or SIGTERM."""
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
    server = FakeLLMServer(host=host, port=port, config=config).start()
    try:
        announce(f"Fake LLM listening on http://{host}:{server.port}/v1")
        announce(f"mode={config.mode}; control endpoints: /_requests, /_config")
        stop.wait()
    finally:
        server.stop()
    announce("Fake LLM stopped")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m conversations.fake_llm",
        description="Fake OpenAI-compatible LLM server for tests and local development.",
    )
    add_arguments(parser)
    options = vars(parser.parse_args(argv))
    try:
        config = config_from_options(options)
    except ConfigError as exc:
        parser.error(str(exc))
    log_requests(options["quiet"])
    try:
        serve(options["host"], options["port"], config, lambda line: print(line, flush=True))
    except OSError as exc:  # typically: the port is already taken
        parser.exit(1, f"Cannot listen on {options['host']}:{options['port']}: {exc}\n")
    return 0
