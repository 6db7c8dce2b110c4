#!/usr/bin/env bash
# ringmq against Mosquitto (and rumqttd when it is on PATH) in one run: the same loads, each
# broker started fresh for every run and pinned to core 0, the load tool (ringmq-bench) on
# core 1 (ringmq on glommio, and on tokio as ringmq-tokio), runs interleaved A B A B, the median of the runs reported with ratios against
# Mosquitto.
#
#   benches/compare.sh [--runs N] [--quick] [--only LOAD[,LOAD...]] [--no-write]
#                      [--brokers ringmq,mosquitto[,ringmq-tokio][,rumqttd]] [--latency-rate R]
#                      [--no-build] [--no-install]
#
# LOAD: stress (all three N), stress-2, stress-10, stress-100, p2p-q0, p2p-q1, fanout,
# latency, idle. Default: all of them, 3 runs (about 15-25 minutes); --quick runs short
# durations, stress N=10 only, 1,000 idle connections and 1 run (about 2 minutes).
# The table goes between the compare markers of BENCHMARKS.md (not with --no-write) and to
# stdout; raw results, configs and logs go to target/compare/.
#
# This script installs Mosquitto when missing (apt-get, as root or through sudo -n), builds
# `cargo build --release -p ringmq -p ringmq-benches --bins` once, then runs
# benches/compare.py, which does the rest (`benches/compare.py --help` for every option;
# `benches/compare.py --self-test` checks its own arithmetic and the markdown splice).
# rumqttd is used when `rumqttd` is on PATH (`cargo install rumqttd`) and skipped otherwise.
set -euo pipefail

usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

BUILD=1
INSTALL=1
ARGS=()
for a in "$@"; do
  case $a in
    -h | --help) usage; exit 0 ;;
    --no-build) BUILD=0 ;;
    --no-install) INSTALL=0 ;;
    *) ARGS+=("$a") ;;
  esac
done

die() { echo "compare.sh: $*" >&2; exit 1; }

for tool in python3 taskset cargo; do
  command -v "$tool" >/dev/null || die "$tool is required and not on PATH"
done
[[ $(nproc) -ge 2 ]] || die "needs at least 2 cores (broker on core 0, load tool on core 1)"

if ! command -v mosquitto >/dev/null && [[ -x /usr/sbin/mosquitto ]]; then
  PATH=$PATH:/usr/sbin
fi
if ! command -v mosquitto >/dev/null; then
  [[ $INSTALL == 1 ]] || die "mosquitto is not installed (and --no-install was given)"
  echo "compare.sh: mosquitto not found; installing it with apt-get" >&2
  if [[ $(id -u) == 0 ]]; then
    SUDO=()
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    die "cannot install mosquitto: not root and no password-less sudo. Install it yourself
(Debian/Ubuntu: sudo apt-get install -y mosquitto; other systems: https://mosquitto.org/download/)
and run this script again."
  fi
  export DEBIAN_FRONTEND=noninteractive
  if ! { ${SUDO[@]+"${SUDO[@]}"} apt-get install -y mosquitto ||
         { ${SUDO[@]+"${SUDO[@]}"} apt-get update && ${SUDO[@]+"${SUDO[@]}"} apt-get install -y mosquitto; }; }; then
    die "apt-get install -y mosquitto failed (see above). Install Mosquitto yourself and run
this script again."
  fi
  # The Debian package starts a system broker on port 1883; it does not disturb this script
  # (random ports), so it is left alone.
  [[ -x /usr/sbin/mosquitto ]] && PATH=$PATH:/usr/sbin
  command -v mosquitto >/dev/null || die "mosquitto installed but not found on PATH"
fi

if ! command -v rumqttd >/dev/null; then
  echo "compare.sh: rumqttd is not on PATH: skipping it (cargo install rumqttd to include it)" >&2
fi

if [[ $BUILD == 1 ]]; then
  cargo build --release -p ringmq -p ringmq-benches --bins
fi
for bin in ringmq ringmq-bench; do
  [[ -x target/release/$bin ]] || die "target/release/$bin is missing (build it, or drop --no-build)"
done

exec python3 "$ROOT/benches/compare.py" --root "$ROOT" ${ARGS[@]+"${ARGS[@]}"}
