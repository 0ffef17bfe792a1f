#!/usr/bin/env bash
# Make sure every real peer the test suite talks to is installed and running:
# PostgreSQL and Redis (use running servers, otherwise install/start them), Debian's
# prometheus and prometheus-alertmanager, Chromium. Idempotent; quiet when all is there.
set -euo pipefail

log() { printf 'peers: %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }

APT_UPDATED=0
apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null; then log "cannot install ${missing[*]}: no apt-get"; return 1; fi
  if [ "$APT_UPDATED" = 0 ]; then as_root apt-get update -qq >/dev/null || true; APT_UPDATED=1; fi
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- PostgreSQL ------------------------------------------------------------------------------
if ! port_open 5432; then
  apt_install postgresql postgresql-client
  ver=$(ls /etc/postgresql | sort -V | tail -1)
  log "starting PostgreSQL $ver"
  as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  for _ in $(seq 1 30); do port_open 5432 && break; sleep 1; done
fi
command -v pg_dump >/dev/null || apt_install postgresql-client
# pg_amcheck ships with the client package of PostgreSQL 14+.

# --- Redis ---------------------------------------------------------------------------------------
if ! port_open 6379; then
  command -v redis-server >/dev/null || apt_install redis-server
  log "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/glowops-tests.log
  for _ in $(seq 1 30); do port_open 6379 && break; sleep 0.5; done
fi

# --- Prometheus, Alertmanager, Chromium ---------------------------------------------------------
apt_install prometheus prometheus-alertmanager chromium
# Debian starts these as services on install; the tests run their own instances on other ports.
for svc in prometheus prometheus-alertmanager prometheus-node-exporter; do
  as_root pkill -f "/usr/bin/$svc" 2>/dev/null || true
done
exit 0
