#!/bin/bash
# connector-healthcheck PORT [PATH]: exits 0 when GET http://127.0.0.1:PORT/PATH (default
# /readyz) answers 200, 1 otherwise. Bash's /dev/tcp does the request, so the runtime image
# needs no curl or wget.
set -u

port=${1:?usage: connector-healthcheck PORT [PATH]}
path=${2:-/readyz}

if ! { exec 3<>"/dev/tcp/127.0.0.1/${port}"; } 2>/dev/null; then
  echo "nothing answers on port ${port}" >&2
  exit 1
fi
# HTTP/1.0: the server closes the connection after the answer.
printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1:%s\r\n\r\n' "${path}" "${port}" >&3
if ! IFS= read -r -t 3 status <&3; then
  echo "no answer from ${path} on port ${port}" >&2
  exit 1
fi
exec 3>&-
case "${status}" in
  "HTTP/1."?" 200"*) exit 0 ;;
  *)
    echo "${path} on port ${port}: ${status%$'\r'}" >&2
    exit 1
    ;;
esac
