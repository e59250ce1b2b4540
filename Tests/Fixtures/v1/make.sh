#!/usr/bin/env bash
# Makes the wirsync-1 files the upgrade tests start from, with the binaries of wirsync 1
# (commit 4c70b15): a hub, and the replicas of the Landkreis Kassel and of HMSI, with data
# synced, a conflict recorded and mirrored, and changes captured but not yet pushed.
#
#   git worktree add /tmp/wirsync-v1 4c70b15 && (cd /tmp/wirsync-v1 && swift build)
#   Tests/Fixtures/v1/make.sh /tmp/wirsync-v1/.build/debug
set -euo pipefail
bin=$1
out=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'kill $hub_pid 2>/dev/null || true; rm -rf "$work"' EXIT
"$bin/wirsync-hub" init --db "$work/hub.db" >/dev/null
for node in landkreis-kassel hmsi; do
  "$bin/wirsync-hub" centre add "$node" --db "$work/hub.db" >"$work/$node.db.token"
  chmod 600 "$work/$node.db.token"
done
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin/wirsync-hub" serve --db "$work/hub.db" --port "$port" --log-level warning >"$work/hub.out" 2>&1 &
hub_pid=$!
for _ in $(seq 100); do grep -q serving "$work/hub.out" && break; sleep 0.1; done
for node in landkreis-kassel hmsi; do
  "$bin/wirsync" init --db "$work/$node.db" --centre "$node" --hub "http://127.0.0.1:$port" >/dev/null
done
"$bin/wirsync" sample --centre landkreis-kassel --rows 30 --seed 1 | sqlite3 "$work/landkreis-kassel.db"
"$bin/wirsync" sync --db "$work/landkreis-kassel.db" >/dev/null
"$bin/wirsync" sync --db "$work/hmsi.db" >/dev/null
project=$(sqlite3 "$work/hmsi.db" "SELECT id FROM projects ORDER BY id LIMIT 1")
sqlite3 "$work/hmsi.db" "UPDATE projects SET title = 'Titel von HMSI' WHERE id = '$project'"
sqlite3 "$work/landkreis-kassel.db" "UPDATE projects SET title = 'Titel des Zentrums' WHERE id = '$project'"
"$bin/wirsync" sync --db "$work/hmsi.db" >/dev/null
"$bin/wirsync" sync --db "$work/landkreis-kassel.db" >/dev/null
"$bin/wirsync" sync --db "$work/hmsi.db" >/dev/null
# Captured, not yet pushed: they must survive the upgrade and reach the hub after it.
"$bin/wirsync" sample --centre landkreis-kassel --rows 12 --seed 2 | sqlite3 "$work/landkreis-kassel.db"
sqlite3 "$work/landkreis-kassel.db" "UPDATE organisations SET city = 'Hofgeismar'"
kill -TERM "$hub_pid"; wait "$hub_pid" || true
for node in hub landkreis-kassel hmsi; do
  sqlite3 "$work/$node.db" ".backup '$out/$node.sqlite'"
done
cp "$work/landkreis-kassel.db.token" "$out/landkreis-kassel.token"
cp "$work/hmsi.db.token" "$out/hmsi.token"
echo "made $(ls "$out")"
