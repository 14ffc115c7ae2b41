#!/usr/bin/env bash
# bench/uploads.sh — tus upload throughput of `passeur serve` on both stores: a file of SIZE
# MiB (random bytes) sent with curl, in one PATCH and in PATCHes of CHUNK MiB, to a serve on
# SQLite (the file goes to disk) and one on PostgreSQL (the file goes into the database in
# 1 MiB rows); the server's offset is checked at the end, and its peak RSS reported.
#
#   bench/uploads.sh                 # 256 MiB, chunks of 8 MiB (the web page's size)
#   SIZE=1024 CHUNK=32 bench/uploads.sh
#   PASSEUR=target/debug/passeur bench/uploads.sh   # another build
#
# Needs curl, and PostgreSQL on 127.0.0.1:5432 with the passeur_test role (scripts/test.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SIZE=${SIZE:-256}
CHUNK=${CHUNK:-8}
TARGET=${CARGO_TARGET_DIR:-target}
if [ -z "${PASSEUR:-}" ]; then
    cargo build --release -q -p passeur --bin passeur
    PASSEUR="$TARGET/release/passeur"
fi
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ -n "${db:-}" ]; then
        psql -X -q -h 127.0.0.1 -U postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 ||
            su postgres -c "psql -X -q -c 'DROP DATABASE IF EXISTS $db WITH (FORCE)'" >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
head -c "$((SIZE << 20))" /dev/urandom >"$work/file.bin"
len=$((SIZE << 20))

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_serve() { # data-dir database-url-or-empty -> sets base, pid
    local dir=$1 url=$2 port
    port=$(free_port)
    local args=(serve --listen "127.0.0.1:$port" --data "$dir" --workers 0 --max-upload-gib 64)
    [ -n "$url" ] && args+=(--database "$url")
    "$PASSEUR" "${args[@]}" >"$dir.log" 2>&1 &
    pid=$!
    pids+=("$pid")
    base="http://127.0.0.1:$port"
    for _ in $(seq 100); do
        curl -fsS "$base/healthz" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "serve did not start: $(cat "$dir.log")" >&2
    exit 1
}

create() {
    curl -fsS -i -X POST -H 'Tus-Resumable: 1.0.0' -H "Upload-Length: $len" \
        -H 'Upload-Metadata: filename YmVuY2guYmlu' "$base/api/v1/uploads" |
        tr -d '\r' | awk -F': ' 'tolower($1)=="location"{print $2}'
}

offset_of() {
    curl -fsS -I -H 'Tus-Resumable: 1.0.0' "$base$1" | tr -d '\r' |
        awk -F': ' 'tolower($1)=="upload-offset"{print $2}'
}

one_patch() { # location
    curl -fsS -o /dev/null -X PATCH -H 'Tus-Resumable: 1.0.0' -H 'Upload-Offset: 0' \
        -H 'Content-Type: application/offset+octet-stream' --data-binary "@$work/file.bin" "$base$1"
}

chunked() { # location
    local at=0 n=$((CHUNK << 20))
    while [ "$at" -lt "$len" ]; do
        dd if="$work/file.bin" of="$work/part" bs=1M skip=$((at >> 20)) count="$CHUNK" status=none
        curl -fsS -o /dev/null -X PATCH -H 'Tus-Resumable: 1.0.0' -H "Upload-Offset: $at" \
            -H 'Content-Type: application/offset+octet-stream' --data-binary "@$work/part" "$base$1"
        at=$((at + n))
        if [ "$at" -gt "$len" ]; then at=$len; fi
    done
}

measure() { # store how
    local loc t0 t1 got
    loc=$(create)
    t0=$(date +%s.%N)
    "$2" "$loc"
    t1=$(date +%s.%N)
    got=$(offset_of "$loc")
    [ "$got" = "$len" ] || { echo "upload incomplete: $got of $len" >&2; exit 1; }
    curl -fsS -o /dev/null -X DELETE -H 'Tus-Resumable: 1.0.0' "$base$loc"
    python3 -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); print(f'| $1 | $2 | {s:.2f} | {$SIZE/s:.0f} |')" "$t0" "$t1"
}

echo "| store | how | seconds | MiB/s |"
echo "|---|---|---|---|"
start_serve "$work/sqlite" ""
measure SQLite one_patch
measure SQLite chunked
rss_sqlite=$(awk '/VmHWM/{print int($2/1024)}' "/proc/$pid/status")

db="passeur_bench_uploads_$$"
psql -X -q -h 127.0.0.1 -U passeur_test -d postgres -c "CREATE DATABASE $db" >/dev/null 2>&1 ||
    PGPASSWORD=passeur_test psql -X -q -h 127.0.0.1 -U passeur_test -d postgres -c "CREATE DATABASE $db" >/dev/null
start_serve "$work/pg" "postgres://passeur_test:passeur_test@127.0.0.1:5432/$db"
measure PostgreSQL one_patch
measure PostgreSQL chunked
rss_pg=$(awk '/VmHWM/{print int($2/1024)}' "/proc/$pid/status")
echo
echo "File: $SIZE MiB; chunks of $CHUNK MiB. Peak RSS of serve: SQLite $rss_sqlite MB, PostgreSQL $rss_pg MB."
