"""The full test suite in one command: `python -m tests [pytest args]`.

Installs what the browser tests need (Debian's Chromium) when it is missing and
this user may install it, runs ruff, then pytest. CI calls exactly this.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"


def ensure_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        print(f"! {CHROMIUM} is missing and cannot be installed here: browser tests will skip.")
        return
    print("Installing Debian's chromium for the browser tests ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([apt, "update", "-qq"], check=True, env=env)
    subprocess.run([apt, "install", "-y", "-qq", "chromium"], check=True, env=env)


def main(argv: list[str]) -> int:
    ensure_chromium()
    print("ruff check .", flush=True)
    ruff = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT)
    if ruff.returncode != 0:
        return ruff.returncode
    return subprocess.run([sys.executable, "-m", "pytest", *argv], cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
