#!/usr/bin/env bash
# Runs the Eclipse Paho interoperability suite (eclipse/paho.mqtt.testing,
# interoperability/client_test.py for MQTT 3.1.1 and client_test5.py for MQTT 5) against
# ringmq, and against Mosquitto in the same run when `mosquitto` is installed.
#
#   benches/paho_interop.sh PATH_TO_SUITE [--no-mosquitto] [--only ringmq|mosquitto]
#                                         [--timeout SECS] [--out DIR] [--tests 'NAME ...']
#                                         [--runtime glommio|tokio]
#
# PATH_TO_SUITE is a checkout of paho.mqtt.testing (or its interoperability/ folder); this
# script neither fetches nor builds it. ringmq is started from $RINGMQ_BIN (default
# target/release/ringmq, built with `cargo build --release --bin ringmq` when missing) with
# paho.toml, on the runtime `--runtime` names (passed on as `ringmq --runtime`; default: the
# binary's default, glommio on Linux). client_test.py is hard-wired to localhost:1883, so each broker in turn listens on
# 127.0.0.1:1883, which must be free.
#
# Each test runs in its own python process (`client_test5.py Test.test_x`) under a timeout:
# several tests loop until a message or a DISCONNECT arrives and would otherwise hang the whole
# file. Each file gets a freshly started broker. Logs go to --out (default a temp dir).
# Prints one line per test and the pass counts; exits 0 when every ringmq test passed.
set -euo pipefail

usage() { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[[ $# -ge 1 ]] || usage
SUITE=$1; shift
[[ -d $SUITE/interoperability ]] && SUITE=$SUITE/interoperability
[[ -f $SUITE/client_test.py && -f $SUITE/client_test5.py ]] ||
  { echo "no client_test.py / client_test5.py under $SUITE" >&2; exit 2; }
SUITE=$(cd "$SUITE" && pwd)

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RINGMQ_BIN=${RINGMQ_BIN:-$ROOT/target/release/ringmq}
CONFIG=${PAHO_CONFIG:-$ROOT/paho.toml}
TIMEOUT=120
OUT=""
ONLY=""
TESTS=""
RUNTIME=""
MOSQUITTO=1
while [[ $# -gt 0 ]]; do
  case $1 in
    --no-mosquitto) MOSQUITTO=0 ;;
    --only) ONLY=$2; shift ;;
    --timeout) TIMEOUT=$2; shift ;;
    --out) OUT=$2; shift ;;
    --tests) TESTS=$2; shift ;;
    --runtime) RUNTIME=$2; shift ;;
    *) usage ;;
  esac
  shift
done
[[ -n $OUT ]] || OUT=$(mktemp -d /tmp/paho_interop.XXXXXX)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
command -v mosquitto >/dev/null || MOSQUITTO=0

BROKER_PID=""
LAST_BROKER=""
stop_broker() {
  if [[ -n $BROKER_PID ]]; then
    kill -INT "$BROKER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$BROKER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$BROKER_PID" 2>/dev/null || true
    wait "$BROKER_PID" 2>/dev/null || true
    BROKER_PID=""
  fi
}
trap stop_broker EXIT

wait_port() {
  for _ in $(seq 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then return 0; fi
    kill -0 "$BROKER_PID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

port_busy() { (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; }

start_broker() { # $1 = ringmq | mosquitto, $2 = log file
  local attempt
  for attempt in 1 2 3 4 5; do
    # The previous broker may still be letting go of the port.
    for _ in $(seq 50); do port_busy || break; sleep 0.2; done
    if [[ $LAST_BROKER != "$1" ]]; then
      # Connections the previous broker closed first sit in TIME_WAIT on :1883 for 60 s.
      # Linux lets a new listener bind over them only when the old and the new socket both
      # set SO_REUSEADDR (or both SO_REUSEPORT, same user); ringmq before e027497 set only
      # SO_REUSEPORT, Mosquitto only SO_REUSEADDR.
      for _ in $(seq 90); do
        [[ -z $(ss -tanH state time-wait '( sport = :1883 )' 2>/dev/null) ]] && break
        sleep 1
      done
    fi
    if port_busy; then
      echo "127.0.0.1:1883 is already in use; stop whatever listens there:" >&2
      ss -ltnp 'sport = :1883' >&2 || true
      exit 1
    fi
    case $1 in
      ringmq)
        RUST_LOG=${RUST_LOG:-warn} "$RINGMQ_BIN" --config "$CONFIG" \
          ${RUNTIME:+--runtime "$RUNTIME"} >"$2" 2>&1 &
        ;;
      mosquitto)
        # The same behaviour paho.toml asks of ringmq, as far as Mosquitto can express it.
        printf 'topic readwrite #\ntopic deny test/nosubscribe\n' >"$OUT/mosquitto.acl"
        printf '%s\n' "listener 1883 127.0.0.1" "allow_anonymous true" \
          "acl_file $OUT/mosquitto.acl" "max_keepalive 60" "persistence false" \
          "log_dest stderr" "log_type error" "log_type warning" >"$OUT/mosquitto.conf"
        mosquitto -c "$OUT/mosquitto.conf" >"$2" 2>&1 &
        ;;
    esac
    BROKER_PID=$!
    if wait_port; then LAST_BROKER=$1; return 0; fi
    LAST_BROKER="" # on the next attempt, wait for TIME_WAIT to clear first
    echo "$1 did not start listening (attempt $attempt):" >&2
    cat "$2" >&2
    ss -ltnp 'sport = :1883' >&2 || true
    stop_broker
    sleep 1
  done
  exit 1
}

list_tests() { # $1 = module name
  (cd "$SUITE" && python3 -c 'import sys, unittest
m = __import__(sys.argv[1])
print("\n".join(unittest.TestLoader().getTestCaseNames(m.Test)))' "$1")
}

declare -A PASSED TOTAL
run_file() { # $1 = broker, $2 = module (client_test | client_test5)
  local broker=$1 module=$2 tests t rc status
  tests=${TESTS:-$(list_tests "$module")}
  start_broker "$broker" "$OUT/$broker.$module.broker.log"
  PASSED[$broker.$module]=0
  TOTAL[$broker.$module]=0
  for t in $tests; do
    grep -q "def $t(" "$SUITE/$module.py" || continue
    local log=$OUT/$broker.$module.$t.log
    set +e
    (cd "$SUITE" && timeout -k 5 "$TIMEOUT" python3 "$module.py" "Test.$t") >"$log" 2>&1
    rc=$?
    set -e
    case $rc in
      0) status=PASS; PASSED[$broker.$module]=$((PASSED[$broker.$module] + 1)) ;;
      124|137) status="TIMEOUT(${TIMEOUT}s)" ;;
      *) status=FAIL ;;
    esac
    TOTAL[$broker.$module]=$((TOTAL[$broker.$module] + 1))
    # ringmq binds with SO_REUSEPORT: another process doing the same on 1883 would take
    # some of the suite's connections. Flag the test if anyone else listens there.
    local others
    others=$(ss -ltnpH 'sport = :1883' 2>/dev/null | grep -o 'pid=[0-9]*' | sort -u |
      grep -v "^pid=$BROKER_PID\$" || true)
    [[ -z $others ]] || status="$status (another process listened on 1883: $others)"
    printf '%-10s %-13s %-32s %s\n' "$broker" "$module" "$t" "$status"
    if ! kill -0 "$BROKER_PID" 2>/dev/null; then
      echo "$broker exited during $t; restarting it (see $OUT/$broker.$module.broker.log)" >&2
      BROKER_PID=""
      start_broker "$broker" "$OUT/$broker.$module.broker.log.$t"
    fi
  done
  stop_broker
}

BROKERS=()
[[ $MOSQUITTO = 1 && $ONLY != ringmq ]] && BROKERS+=(mosquitto)
if [[ $ONLY != mosquitto ]]; then
  if [[ ! -x $RINGMQ_BIN ]]; then
    (cd "$ROOT" && cargo build --release --bin ringmq)
  fi
  BROKERS+=(ringmq)
fi

echo "suite: $SUITE ($(git -C "$SUITE" rev-parse --short HEAD 2>/dev/null || echo 'no git'))"
echo "ringmq: $(git -C "$ROOT" rev-parse --short HEAD) $(git -C "$ROOT" status --porcelain | grep -q . && echo '(dirty)')"
echo "ringmq binary: $RINGMQ_BIN ($(date -u -r "$RINGMQ_BIN" +%FT%TZ 2>/dev/null || echo missing)), runtime: ${RUNTIME:-default}"
echo "logs: $OUT"
for b in "${BROKERS[@]}"; do
  run_file "$b" client_test
  run_file "$b" client_test5
done

echo
echo "broker     MQTT 3.1.1 (client_test.py)   MQTT 5 (client_test5.py)"
for b in "${BROKERS[@]}"; do
  printf '%-10s %-29s %s\n' "$b" "${PASSED[$b.client_test]}/${TOTAL[$b.client_test]}" \
    "${PASSED[$b.client_test5]}/${TOTAL[$b.client_test5]}"
done
[[ $ONLY = mosquitto ]] && exit 0
[[ ${PASSED[ringmq.client_test]:-0} = "${TOTAL[ringmq.client_test]:-0}" &&
   ${PASSED[ringmq.client_test5]:-0} = "${TOTAL[ringmq.client_test5]:-0}" ]]
