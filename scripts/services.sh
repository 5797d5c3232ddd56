#!/usr/bin/env bash
# Makes sure RabbitMQ and PostgreSQL are up on localhost, starting them when they are not.
set -euo pipefail

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  local port=$1 name=$2
  for _ in $(seq 1 60); do
    port_open "$port" && return 0
    sleep 1
  done
  echo "$name did not come up on port $port" >&2
  return 1
}

if ! port_open 5432; then
  echo "starting PostgreSQL"
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
  else
    echo "PostgreSQL is not running and pg_ctlcluster is not installed (try: docker compose up -d postgres)" >&2
    exit 1
  fi
  wait_port 5432 PostgreSQL
fi

if ! port_open 5672; then
  echo "starting RabbitMQ"
  if command -v rabbitmq-server >/dev/null 2>&1; then
    rabbitmq-server -detached
  else
    echo "RabbitMQ is not running and rabbitmq-server is not installed (try: docker compose up -d rabbitmq)" >&2
    exit 1
  fi
  wait_port 5672 RabbitMQ
fi

# The broker accepts TCP before it accepts AMQP logins: wait until it answers.
if command -v rabbitmqctl >/dev/null 2>&1; then
  for _ in $(seq 1 60); do
    rabbitmqctl -q await_startup >/dev/null 2>&1 && break
    sleep 1
  done
fi
echo "PostgreSQL and RabbitMQ are up"
