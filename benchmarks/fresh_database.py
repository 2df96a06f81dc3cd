"""The measuring half of a benchmark script, run against a database of its own.

`message_path_cpu` and `reply_path_cpu` parse their options, then run themselves
again with `--run` in a child process whose settings are production's, on a new
database (created, migrated, dropped afterwards) and on channel-layer and cache
prefixes nothing else uses, so that a run neither reads nor leaves anything behind.
"""

import os
import subprocess
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_in_fresh_database(*, name: str, module: str, args: list[str], **settings: str) -> None:
    """`python -m MODULE --run ARGS` with production settings (and `settings` over them)
    on a new database named after `name`, on DATABASE_URL's server and REDIS_URL."""
    sys.path.insert(0, str(ROOT))
    from tests.reliability_outage import Database, manage, production_env

    database = Database(name)
    database.create()
    try:
        env = production_env(
            database.url,
            os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
            **{
                "LOG_LEVEL": "WARNING",
                "CHANNEL_LAYER_PREFIX": f"cpu{uuid.uuid4().hex[:8]}",
                "CACHE_KEY_PREFIX": f"cpu{uuid.uuid4().hex[:8]}",
                **settings,
            },
        )
        manage(env, "migrate", "--noinput")
        subprocess.run(
            [sys.executable, "-m", module, "--run", *args], cwd=ROOT, env=env, check=True
        )
    finally:
        database.drop()
