#!/usr/bin/env bash
# bench/run.sh — IMAP->IMAP migration benchmark: passeur vs doveadm backup and mbsync.
#
#   bench/run.sh                 # corpus c5000 (seed 42, realistic, 5,000 msgs, 263.6 MB; see bench/README.md)
#   bench/run.sh s20000          # seed 43, small profile, 20,000 msgs
#   bench/run.sh small           # 500-message smoke run
#   bench/run.sh c5000 s20000 --runs 2 --tools passeur,doveadm
#   bench/run.sh small --compress   # servers offer COMPRESS=DEFLATE (off by default)
#   bench/run.sh c5000 --pop3       # POP3 -> IMAP: passeur vs doveadm backup with pop3c
#   bench/run.sh small --dest courier  # into Courier-IMAP (no LITERAL+): passeur (1 and 4
#                                   # connections) vs bench/seqcopy.py and imapsync (IMAPSYNC=path)
#
# What it does: builds `passeur` and `passeur-bench` in release; per corpus, starts a
# private source Dovecot (filled with the seeded corpus) and a destination Dovecot with
# mail_fsync=never on random loopback ports; runs each tool into a fresh destination user
# under /usr/bin/time -v, then the same command again (no-op resync), then verifies the
# destination against the source over IMAP (folders, counts, body SHA-256, flags and
# keywords, INTERNALDATE). Prints a table per corpus (wall s, msgs/s, MB/s, peak RSS,
# no-op s, machine busy %, verification, passeur/peer ratio).
# Output: bench/out/results.md, bench/out/results.tsv, per-run logs in bench/out/<corpus>/.
# Needs: dovecot-imapd, isync (mbsync), time — `scripts/test.sh` installs them.
# If passeur does not build or has no `migrate` yet, its rows say "not available".
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
TARGET=${CARGO_TARGET_DIR:-target}

echo "==> building passeur-bench (release)"
cargo build --release -q -p passeur-testkit --bin passeur-bench || exit 1

mkdir -p bench/out
PASSEUR=""
echo "==> building passeur (release)"
if cargo build --release -q -p passeur 2>bench/out/passeur-build.log; then
    PASSEUR="$TARGET/release/passeur"
else
    echo "    passeur does not build; see bench/out/passeur-build.log (benchmarking the peers only)"
fi

exec "$TARGET/release/passeur-bench" --out bench/out --passeur "$PASSEUR" "$@"
