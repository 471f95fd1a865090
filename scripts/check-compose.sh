#!/usr/bin/env bash
# Validates docker-compose.yml with no Docker engine: `config` only parses, checks the schema and
# interpolates variables. Installs Debian's docker-compose when no compose is on the machine.
set -euo pipefail

cd "$(dirname "$0")/.."
file=docker-compose.yml

# Prefer a Compose v2 that is already installed; Debian bookworm only packages v1 (1.29).
compose=()
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose)
else
  echo "check-compose: no compose found, installing Debian's docker-compose"
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then sudo=(sudo -n); fi
  export DEBIAN_FRONTEND=noninteractive
  log="$(mktemp)"
  # apt's own chatter goes to a log that is shown only when the install fails.
  if ! { "${sudo[@]}" apt-get update -qq && \
         "${sudo[@]}" apt-get install -y -qq --no-install-recommends docker-compose; } </dev/null >"$log" 2>&1; then
    cat "$log" >&2
    echo "check-compose: FAILED: could not install docker-compose" >&2
    exit 1
  fi
  rm -f "$log"
  compose=(docker-compose)
fi

# sed reads to the end: `head` would close the pipe early and, under pipefail, fail the script with SIGPIPE.
version="$("${compose[@]}" version 2>/dev/null | sed -n 1p)"
echo "check-compose: validator: ${version}"

# Dummy values for the variables the file requires; the real ones are the deployer's.
# env -u keeps a developer's own values out, so the result does not depend on the shell.
run() { env -u OMS_API_KEYS -u OMS_CHANNEL_SECRETS -u OMS_CARRIER_SECRETS "$@"; }

if ! run OMS_API_KEYS='admin=check-only-key' "${compose[@]}" -f "$file" config -q; then
  echo "check-compose: FAILED: $file is not valid" >&2
  exit 1
fi
services="$(run OMS_API_KEYS='admin=check-only-key' "${compose[@]}" -f "$file" config --services | sort | tr '\n' ' ')"
echo "check-compose: $file is valid; services: ${services% }"

# A deploy without API keys must stop at `up`, not start an API nobody can call.
if run "${compose[@]}" -f "$file" config -q >/dev/null 2>&1; then
  echo "check-compose: FAILED: $file accepts a missing OMS_API_KEYS" >&2
  exit 1
fi
echo "check-compose: a missing OMS_API_KEYS is refused, as intended"
