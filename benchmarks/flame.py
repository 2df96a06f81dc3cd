"""Shares of a py-spy flame graph (SVG): how much of the sampled time a function took.

    .venv/bin/python -m benchmarks.flame benchmarks/results/kb-sustained-flame.svg \
        send_json frame_decode visitor_token_read

A function's share is the sum of its nodes' samples (inclusive of what it
calls); a function that calls itself would be counted twice, none here does.
"""

import html
import re
import sys
from pathlib import Path

_NODE = re.compile(r"^(.*?) \((\S+?):\d+\) \(([\d,]+) samples")
_ALL = re.compile(r"^all \(([\d,]+) samples")


def flame_samples(svg: Path, names: list[str]) -> dict[str, int]:
    """{"all": total, name: samples} where a node matches `name` if its function
    name ends with it (`send_json` matches `AsyncJsonWebsocketConsumer.send_json`)
    or its file ends with it (`json/__init__.py`)."""
    counts = {"all": 0, **{name: 0 for name in names}}
    for title in re.findall(r"<title>(.*?)</title>", svg.read_text()):
        title = html.unescape(title)
        whole = _ALL.match(title)
        if whole:
            counts["all"] = int(whole.group(1).replace(",", ""))
            continue
        node = _NODE.match(title)
        if node is None:
            continue
        function, file, samples = node.group(1), node.group(2), int(node.group(3).replace(",", ""))
        for name in names:
            if function.endswith(name) or file.endswith(name):
                counts[name] += samples
    return counts


def main(argv: list[str]) -> None:
    svg, names = Path(argv[0]), argv[1:]
    counts = flame_samples(svg, names)
    total = counts["all"] or 1
    print(f"{svg.name}: {counts['all']:,} samples")
    for name in names:
        print(f"  {name:<40} {counts[name]:>7,} samples  {100 * counts[name] / total:6.2f} %")


if __name__ == "__main__":
    main(sys.argv[1:])
