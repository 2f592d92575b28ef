#!/usr/bin/env bash
# run.sh BIN [SYNS [IDLE]] - the flood test: a SYN flood from random sources
# and a flood of idle connections, each with a real gRPC connection inside,
# against a small flow table and reassembly memcap. Checks that every gRPC
# call is still reported, that the table evicted only low-value flows, and
# that peak RSS stays under a cap computed from the configuration (formula in
# check_flood.py; printed). Defaults: 200000 SYNs and 100000 idle
# connections, a few seconds (also under ASan, where the RSS check is
# skipped). Ends with 'flood: N passed, M failed'.
set -u
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
exec "$PY" tests/flood/check_flood.py "$@"
