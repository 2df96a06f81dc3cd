#!/usr/bin/env bash
# Every benchmark of benchmarks/README.md, one after the other (about 40 minutes
# on the 2-core machine), then the report. Needs DATABASE_URL and REDIS_URL, as
# the tests do. Results: benchmarks/results/*.json, flame graph, chart.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
run() { echo "== $*"; "$PY" -m benchmarks.loadgen "$@" | grep -v '^options\.' ; }

# The targets, as the issue states them.
run hold
run kb --duration 10 --drain-seconds 240 --label target            # 500/s for 10 s: past saturation, nothing lost
run kb --rate 40 --profile --label sustained    # 10,000 sockets at the rate one process sustains
run stream
run agents

# Latency against open sockets (the chart): same light load, more idle sockets.
for sockets in 1000 5000 10000; do
  run kb --sockets "$sockets" --rate 20 --duration 20 --label "sockets-$sockets"
done

# Tuning, before and after in the same conditions.
run kb --sockets 2000 --rate 40 --duration 30 --env DB_THREADS=0 --label db-threads-0
run kb --sockets 2000 --rate 40 --duration 30 --env DB_THREADS=8 --label db-threads-8
run kb --sockets 3000 --rate 30 --duration 30 --env GC_FREEZE_AFTER_STARTUP=false --label gc-default
run kb --sockets 3000 --rate 30 --duration 30 --label gc-freeze
run kb --sockets 3000 --rate 30 --duration 30 --env GC_THRESHOLDS=50000,20,100 --label gc-freeze-thresholds
run hold --sockets 5000 --hold-seconds 20 --label daphne-5000
run hold --sockets 5000 --hold-seconds 20 --server uvicorn --label uvicorn-5000

# Scale-out: two web processes and two workers; visitors alternate between the
# webs, the agents watch from the second one.
run kb --sockets 2000 --rate 80 --duration 30 --label one-web
run kb --sockets 2000 --rate 80 --duration 30 --webs 2 --label two-webs
run agents --webs 2 --workers 2 --label two-webs

"$PY" -m benchmarks.report
