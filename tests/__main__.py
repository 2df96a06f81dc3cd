"""The full test suite in one command: `python -m tests [pytest args]`.

Installs what the browser and translation tests need (Debian's Chromium and
gettext) when missing and this user may install them, runs ruff, then pytest.
CI calls exactly this.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"


# Debian packages the suite needs: the browser for browser tests, GNU gettext
# (xgettext) for the check that the translation catalogue is current.
SYSTEM_PACKAGES = {"chromium": CHROMIUM, "gettext": "/usr/bin/xgettext"}


def ensure_system_packages() -> None:
    missing = [name for name, path in SYSTEM_PACKAGES.items() if not Path(path).exists()]
    if not missing:
        return
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        print(f"! {', '.join(missing)} missing and cannot be installed here: those tests skip.")
        return
    print(f"Installing Debian's {', '.join(missing)} for the tests ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([apt, "update", "-qq"], check=True, env=env)
    subprocess.run([apt, "install", "-y", "-qq", *missing], check=True, env=env)


def main(argv: list[str]) -> int:
    ensure_system_packages()
    print("ruff check .", flush=True)
    ruff = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT)
    if ruff.returncode != 0:
        return ruff.returncode
    return subprocess.run([sys.executable, "-m", "pytest", *argv], cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
