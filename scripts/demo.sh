#!/usr/bin/env bash
# End-to-end demo on localhost: sandbox (fake BigCommerce + Engage) + the four services,
# a fresh database `connector_demo` and queue prefix `demo`.
#
#   scripts/demo.sh        # scripted traffic, a report of what reached Engage, then stop
#   scripts/demo.sh run    # same setup, no traffic: keeps running until Ctrl-C
#   scripts/demo.sh traffic  # the scripted traffic and report against a running `run`
#
# Needs RabbitMQ and PostgreSQL on localhost (`scripts/services.sh`). Logs go to .demo/.
# Ports can be moved with DEMO_SANDBOX_PORT, DEMO_INGRESS_PORT, DEMO_METRICS_PORT_BASE.
set -euo pipefail

mode=${1:-demo}
case "$mode" in
  demo | run | traffic) ;;
  *) echo "usage: $0 [demo|run|traffic]" >&2; exit 2 ;;
esac

root=$(cd "$(dirname "$0")/.." && pwd)
for tool in psql curl; do
  command -v "$tool" >/dev/null 2>&1 || { echo "$0 needs $tool on the PATH" >&2; exit 1; }
done
cd "$root"

CARGO=${CARGO:-cargo}
profile=${DEMO_PROFILE:-debug}
sandbox_port=${DEMO_SANDBOX_PORT:-19000}
ingress_port=${DEMO_INGRESS_PORT:-18080}
metrics_base=${DEMO_METRICS_PORT_BASE:-19101}
db_name=connector_demo
store=abc123
client_secret=demo-client-secret
access_token=demo-access-token
origin=https://shop.example.com
logs=$root/.demo
bin=$root/target/$profile

sandbox_url=http://127.0.0.1:$sandbox_port
ingress_url=http://127.0.0.1:$ingress_port

pids=()
names=()

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if ((${#pids[@]})); then
    echo "== stopping ${names[*]}"
    local pid
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    # Services drain on SIGTERM; give them 15 s, then SIGKILL what is left.
    for _ in $(seq 1 150); do
      local alive=0
      for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
      ((alive)) || break
      sleep 0.1
    done
    for pid in "${pids[@]}"; do
      if kill -0 "$pid" 2>/dev/null; then
        echo "   $pid did not stop; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
      fi
    done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'echo " interrupted"; exit 130' INT
trap 'exit 143' TERM

# Configuration for every process (connectorctl included): environment only.
unset CONNECTOR_ENV
export CONNECTOR_CONFIG_DIR=$root/config
export CONNECTOR__DATABASE__URL=postgres://postgres@127.0.0.1:5432/$db_name
export CONNECTOR__AMQP__NAMESPACE=demo
export CONNECTOR__INGRESS__LISTEN=127.0.0.1:$ingress_port
export CONNECTOR__ORDER_PROCESSOR__RETRY_BASE_SECS=1
export CONNECTOR__ORDER_PROCESSOR__RETRY_MAX_SECS=2
export CONNECTOR__WEBHOOK_HEALTH__DESTINATION_URL=https://connector.example.com/webhooks/bigcommerce
export CONNECTOR__ENGAGE__MAX_REQUESTS_PER_SEC=0
export CONNECTOR__TELEMETRY__LOG_FORMAT=json
export NO_COLOR=1

traffic() {
  "$bin/demo-traffic" --ingress "$ingress_url" --sandbox "$sandbox_url" --secret "$client_secret" \
    --origin "$origin" --connectorctl "$bin/connectorctl" --log-dir "$logs" \
    --timeout-secs "${DEMO_TIMEOUT_SECS:-120}"
}

if [[ $mode == traffic ]]; then
  traffic
  exit
fi

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

for port in "$sandbox_port" "$ingress_port" "$metrics_base" $((metrics_base + 1)) $((metrics_base + 2)); do
  if port_open "$port"; then
    echo "port $port is already in use (another demo running?); set DEMO_*_PORT to move" >&2
    exit 1
  fi
done

scripts/services.sh

echo "== building ($profile)"
if [[ $profile == release ]]; then
  $CARGO build --locked --release --workspace --bins
else
  $CARGO build --locked --workspace --bins
fi

rm -rf "$logs"
mkdir -p "$logs"

echo "== database $db_name (fresh)"
PGOPTIONS=--client-min-messages=warning psql -q -h 127.0.0.1 -U postgres -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS $db_name WITH (FORCE)" >/dev/null
psql -q -h 127.0.0.1 -U postgres -v ON_ERROR_STOP=1 -c "CREATE DATABASE $db_name" >/dev/null
"$bin/connectorctl" migrate | tail -n1
CONNECTORCTL_CLIENT_SECRET=$client_secret CONNECTORCTL_ACCESS_TOKEN=$access_token \
  "$bin/connectorctl" store add --hash "$store" --api-base-url "$sandbox_url/bigcommerce"
CONNECTORCTL_ENGAGE_API_KEY=demo-key \
  "$bin/connectorctl" channel add --store "$store" --channel-id 1 \
  --engage-base-url "$sandbox_url/engage" --store-external-id SE-WEB \
  --contact-type-mode member-and-contact --allowed-origin "$origin"

start() {
  local name=$1
  shift
  "$@" >"$logs/$name.log" 2>&1 &
  pids+=("$!")
  names+=("$name")
}

wait_ready() {
  local name=$1 url=$2 pid=$3
  for _ in $(seq 1 300); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$name exited; last lines of $logs/$name.log:" >&2
      tail -n 20 "$logs/$name.log" >&2
      return 1
    fi
    curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "$name not ready at $url after 30 s; last lines of $logs/$name.log:" >&2
  tail -n 20 "$logs/$name.log" >&2
  return 1
}

echo "== starting sandbox, ingress, order-processor, tracking-forwarder, webhook-health"
start sandbox "$bin/sandbox" --listen "127.0.0.1:$sandbox_port"
wait_ready sandbox "$sandbox_url/_sandbox/health" "${pids[-1]}"
start ingress "$bin/ingress"
wait_ready ingress "$ingress_url/readyz" "${pids[-1]}"
port=$metrics_base
for svc in order-processor tracking-forwarder webhook-health; do
  CONNECTOR__HTTP__METRICS_LISTEN=127.0.0.1:$port start "$svc" "$bin/$svc"
  wait_ready "$svc" "http://127.0.0.1:$port/readyz" "${pids[-1]}"
  port=$((port + 1))
done
echo "   all ready (logs in .demo/)"

if [[ $mode == run ]]; then
  cat <<EOF

The connector is running against the sandbox. Press Ctrl-C to stop everything.

  ingress             $ingress_url  (POST /webhooks/bigcommerce, /tracking/product-view, /tracking/cart)
                      signing secret of store $store: $client_secret
  order-processor     http://127.0.0.1:$metrics_base/metrics
  tracking-forwarder  http://127.0.0.1:$((metrics_base + 1))/metrics
  webhook-health      http://127.0.0.1:$((metrics_base + 2))/metrics
  sandbox BigCommerce $sandbox_url/bigcommerce/stores/$store/...
  sandbox Engage      $sandbox_url/engage/api/...
  sandbox control     $sandbox_url/_sandbox/requests, /_sandbox/engage/contacts, /_sandbox/engage/orders
  database            $CONNECTOR__DATABASE__URL
  logs                $logs/*.log

  scripted traffic:   scripts/demo.sh traffic   (in another terminal; report included)
  operator CLI:       CONNECTOR__DATABASE__URL=$CONNECTOR__DATABASE__URL CONNECTOR__AMQP__NAMESPACE=demo \\
                        $bin/connectorctl orders list
EOF
  # Wake up on Ctrl-C (the trap exits) or when a service dies.
  while true; do
    for i in "${!pids[@]}"; do
      if ! kill -0 "${pids[$i]}" 2>/dev/null; then
        # On Ctrl-C the services see SIGINT too; give the INT trap the first word.
        sleep 1
        echo "${names[$i]} exited unexpectedly; see $logs/${names[$i]}.log" >&2
        exit 1
      fi
    done
    sleep 1
  done
fi

traffic
