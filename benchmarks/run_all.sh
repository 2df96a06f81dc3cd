#!/usr/bin/env bash
# Every benchmark of benchmarks/README.md, one after the other (about 90 minutes
# on the 2-core machine), then the report. Needs DATABASE_URL and REDIS_URL, as
# the tests do. Results: benchmarks/results/*.json, flame graph, chart.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
# The machine may be shared: each run records /proc/loadavg before and after.
run() { echo "== $* :: $(cat /proc/loadavg)"; "$PY" -m benchmarks.loadgen "$@" | grep -v '^options\.' ; }

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
run kb --sockets 3000 --rate 30 --duration 30 --env GC_FREEZE_AFTER_STARTUP=false --env GC_THRESHOLDS= --label gc-default
run kb --sockets 3000 --rate 30 --duration 30 --env GC_THRESHOLDS= --label gc-freeze
run kb --sockets 3000 --rate 30 --duration 30 --env GC_THRESHOLDS=50000,20,100 --label gc-freeze-thresholds
# Young-generation size at 10,000 sockets (the fourth run; the last is the default).
for thresholds in 50000,20,100 5000,20,100 1000,20,100 1000,10,10000; do
  run kb --rate 40 --env GC_THRESHOLDS=$thresholds --label gc-${thresholds//,/-}
done
run hold --sockets 5000 --hold-seconds 20 --label daphne-5000
run hold --sockets 5000 --hold-seconds 20 --server uvicorn --label uvicorn-5000

# Scale-out: two web processes and two workers behind one port (the round-robin
# TCP balancer of benchmarks/loadgen/balancer.py); the webs direct for reference.
run kb --sockets 2000 --rate 80 --duration 30 --label lb-one-web-direct
run kb --sockets 2000 --rate 80 --duration 30 --balancer --label lb-one-web
run kb --sockets 2000 --rate 80 --duration 30 --balancer --webs 2 --label lb-two-webs
run agents --webs 2 --workers 2 --balancer --label two-webs

# LLM delta coalescing off (0) and on (30 ms, the default), interleaved.
for round in a b; do
  for ms in 0 30; do
    run stream --env LLM_DELTA_COALESCE_MS=$ms --label coalesce-$ms-$round
    run agents --sockets 500 --client-processes 1 --rate 10 --duration 30 --streams 20 \
      --env LLM_DELTA_COALESCE_MS=$ms --label light-coalesce-$ms-$round
  done
done
run agents --sockets 500 --client-processes 1 --rate 10 --duration 30 --streams 20 --label light

# The connect path: N sockets connecting as fast as the clients can, the
# per-process Site cache off (a query per connect) and on (the default).
run connect --env SITE_CACHE_SECONDS=0 --label site-cache-off
run connect --label site-cache-on
run connect --profile --label profile

# Per-message compression: the real frames of kb, stream and agents runs, then
# replayed through permessage-deflate; memory per socket with uvicorn.
rm -rf benchmarks/results/frames
for scenario in kb stream agents; do
  run "$scenario" --smoke --record-frames "benchmarks/results/frames/$scenario" --label frames
done
run hold --sockets 3000 --hold-seconds 10 --server uvicorn --label uvicorn-3000
run hold --sockets 3000 --hold-seconds 10 --server uvicorn --compression --label uvicorn-deflate-3000
"$PY" -m benchmarks.compression
"$PY" -m benchmarks.json_encoding

# The Celery pool and its concurrency.
run stream --label pool-threads-400
run stream --worker-pool prefork --worker-concurrency 4 --label pool-prefork-4
run stream --worker-pool prefork --worker-concurrency 2 --label pool-prefork-2
run stream --worker-pool gevent --worker-concurrency 400 --label pool-gevent-400

# The channel layer.
run stream --env CHANNEL_LAYER=pubsub --label layer-pubsub
run stream --env CHANNEL_LAYER=core --label layer-core

# The ASGI server under the same message load.
run kb --sockets 2000 --rate 40 --duration 30 --label server-daphne
run kb --sockets 2000 --rate 40 --duration 30 --server uvicorn --label server-uvicorn

"$PY" -m benchmarks.report
