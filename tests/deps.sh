#!/usr/bin/env bash
# deps.sh install|ensure|ensure-analyze - the Debian packages grpcwatch needs to build and test.
#   install: apt-get install them (root).
#   ensure:  install only what is missing; as non-root, name what is missing and fail.
set -euo pipefail

PKGS=(build-essential pkg-config libpcap-dev libnghttp2-dev libyaml-dev check libssl-dev python3 time)
# make analyze: static analysers, valgrind, libFuzzer
ANALYZE_PKGS=(cppcheck clang-tidy valgrind clang-14 libclang-rt-14-dev)

missing() {
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"
    done
}

install() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "deps: run as root (or: sudo apt-get install $*)" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "$@" >/dev/null
    echo "deps: installed $*"
}

ensure() {
    mapfile -t need < <(missing "$@")
    [ "${#need[@]}" -eq 0 ] && return 0
    install "${need[@]}"
}

case "${1:-ensure}" in
install) install "${PKGS[@]}" ;;
ensure) ensure "${PKGS[@]}" ;;
ensure-analyze) ensure "${PKGS[@]}" "${ANALYZE_PKGS[@]}" ;;
*) echo "usage: $0 install|ensure|ensure-analyze" >&2; exit 2 ;;
esac
