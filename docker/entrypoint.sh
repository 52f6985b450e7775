#!/bin/sh
# The compose services' entry point: `entrypoint.sh ROLE [extra options]`, ROLE one of
#   simulator        the built-in simulator on the master's loopback (127.0.0.1:8000)
#   ui-master        Locust's master with its web UI (login required) on port 8089
#   headless-master  `python -m loadgen run` against the simulator it starts itself, or TARGET_HOST
#   worker           a Locust worker of MASTER_HOST:MASTER_PORT (default: the master's loopback)
#   run CMD...       any command, with the same settings (e.g. `docker compose run --rm worker run sh`)
# Settings come from the environment (compose passes them from .env): EXCHANGE, TARGET_HOST,
# TARGET_WS_HOST, SCENARIO, DURATION, USERS, WORKERS, THRESHOLDS (';'-separated expressions).
# The users sign with the simulator's demo keys when their host is the simulator (they ask it:
# GET /__sim/identity); against TARGET_HOST they read the exchange's keys (BINANCE_API_KEY, ...).
set -eu
set -f  # a threshold such as p99[binance depth]<800 is not a glob
role=${1:?usage: entrypoint.sh simulator|ui-master|headless-master|worker|run [options]}
shift
exchange=${EXCHANGE:-binance}

case $role in
simulator)
  exec python -m simulator --host 127.0.0.1 --port 8000 "$@" ;;
worker)
  exec locust -f "locustfiles/$exchange.py" --worker --master-host "${MASTER_HOST:-127.0.0.1}" \
    --master-port "${MASTER_PORT:-5557}" "$@" ;;
ui-master)
  [ -n "${TARGET_WS_HOST:-}" ] && set -- --ws-host "$TARGET_WS_HOST" "$@"
  exec locust -f "locustfiles/$exchange.py" --master --host "${TARGET_HOST:-http://127.0.0.1:8000}" \
    --web-host 0.0.0.0 --web-login "$@" ;;
headless-master)
  [ -n "${TARGET_HOST:-}" ] && set -- --host "$TARGET_HOST" "$@"
  [ -n "${TARGET_WS_HOST:-}" ] && set -- --ws-host "$TARGET_WS_HOST" "$@"
  [ -n "${DURATION:-}" ] && set -- --duration "$DURATION" "$@"
  [ -n "${USERS:-}" ] && set -- --users "$USERS" "$@"
  IFS=';'
  for expr in ${THRESHOLDS:-}; do
    [ -n "$expr" ] && set -- "$@" "--threshold=$expr"
  done
  unset IFS
  set -- python -m loadgen run --exchange "$exchange" --scenario "${SCENARIO:-default}" \
    --expect-workers "${WORKERS:-4}" --master-port 5557 --results-dir /app/results "$@"
  if [ "$(id -u)" = 0 ]; then  # write as the owner of the host's results directory
    exec env HOME=/tmp setpriv --reuid="$(stat -c %u /app/results)" --regid="$(stat -c %g /app/results)" \
      --clear-groups -- "$@"
  fi
  exec "$@" ;;
run)
  exec "$@" ;;
*)
  echo "error: unknown role $role (simulator, ui-master, headless-master, worker or run)" >&2
  exit 2 ;;
esac
