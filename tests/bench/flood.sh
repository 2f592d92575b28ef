#!/usr/bin/env bash
# flood.sh - the flood test at full size: 1,000,000 SYNs from random sources
# and 1,000,000 idle connections, each with a real gRPC connection inside
# (tests/flood/). Prints the checks, packets/s and peak RSS against its cap.
# Needs about 0.5 GB in $TMPDIR and half a minute, most of it writing the
# captures. BUILD=build-san runs it sanitized (RSS not checked then).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
SYNS=${FLOOD_SYNS:-1000000}
IDLE=${FLOOD_IDLE:-1000000}
exec tests/flood/run.sh "$BUILD/grpcwatch" "$SYNS" "$IDLE"
