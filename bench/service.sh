#!/usr/bin/env bash
# bench/service.sh — the service under load: N accounts of M messages queued at once through
# the API against one pair of private Dovecots, on SQLite (serve with W workers) and on
# PostgreSQL (serve --workers 0 plus 1 and 2 `passeur worker` processes); the CLI's time per
# account beside the service's for the same accounts; peak RSS of serve with 1,000 queued.
#
#   bench/service.sh                              # 500 accounts x 100 messages, 8 workers
#   bench/service.sh --accounts 100 --messages 50 --only cli,sqlite
#
# Needs dovecot-imapd and PostgreSQL on 127.0.0.1:5432 (scripts/test.sh installs and starts
# them). Prints a Markdown table; exits non-zero if any migration is not exact.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
TARGET=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p passeur -p passeur-testkit --bin passeur --bin passeur-service-bench || exit 1
exec "$TARGET/release/passeur-service-bench" --passeur "$TARGET/release/passeur" "$@"
