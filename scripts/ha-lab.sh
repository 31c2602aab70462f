#!/bin/sh
# HA lab on loopback: pg_auto_failover (monitor + primary + synchronous
# standby), three Rampart nodes (active-active) and HAProxy. Prints the URLs;
# Ctrl-C (or "quit") tears everything down. Run as root (PostgreSQL itself is
# run as the postgres OS user) or as a user that can run postgres.
# Options: --keep  leave the data directories and logs behind.
cd "$(dirname "$0")/.." || exit 1
exec node --import tsx scripts/ha-lab.ts "$@"
