#!/usr/bin/env bash
# The benchmarks drive HTTP load with wrk when it is installed (a lighter client than the
# built-in one, leaving the cores to the broker and the service). Installs it when possible.
command -v wrk >/dev/null 2>&1 && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq wrk >/dev/null 2>&1; }
fi
command -v wrk >/dev/null 2>&1 || echo "wrk is not installed: the benchmark uses its built-in client (heavier, lower numbers)" >&2
exit 0
