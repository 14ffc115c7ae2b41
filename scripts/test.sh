#!/usr/bin/env bash
# scripts/test.sh — the ONE command that runs passeur's whole test suite.
#
# On a fresh Debian 12 machine, as root:   bash scripts/test.sh
#   1. installs the servers and tools the tests start (Dovecot, Radicale, Xandikos,
#      cyrus-common + sasl2-bin, isync, pst-utils/pff-tools, openssl, time, chromium + chromium-driver for the web
#      pages' browser tests) if missing — apt-get update only when
#      needed — and stops any system Dovecot/Radicale service the install started
#      (tests run their own private instances on random loopback ports);
#   2. installs PostgreSQL if missing, starts its cluster on 127.0.0.1:5432 and makes sure
#      the test role passeur_test can log in there;
#   3. runs `cargo nextest run --workspace --no-fail-fast` (or `cargo test --workspace`),
#      then `cargo fmt --all --check`, `cargo clippy --workspace --all-targets -- -D warnings`,
#      a check of the fuzz targets and a docs build with warnings as errors.
# Idempotent: a second run installs nothing. Exit status is non-zero if any step failed.
# Not root: installs nothing, tells what is missing, and runs the rest.
# Env: SKIP_INSTALL=1 skips step 1; NEXTEST_PROFILE picks a nextest profile.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
ROOT_DIR=$(pwd)
START=$(date +%s)

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
note() { printf '    %s\n' "$*"; }
elapsed() { echo "$(($(date +%s) - START))s"; }

is_root() { [ "$(id -u)" -eq 0 ]; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# Is the system (not a private test) instance of a service running?
system_dovecot_up() {
    [ -s /run/dovecot/master.pid ] && kill -0 "$(cat /run/dovecot/master.pid)" 2>/dev/null
}
# The Debian service runs as user "radicale"; private test instances don't.
system_radicale_up() {
    id radicale >/dev/null 2>&1 && [ -n "$(ps -u radicale -o pid= 2>/dev/null)" ]
}

apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        -o DPkg::Lock::Timeout=600 "$@"
}

apt_update() {
    DEBIAN_FRONTEND=noninteractive apt-get update -q -o DPkg::Lock::Timeout=600
}

install_packages() {
    # cyrus-common + sasl2-bin: Cyrus's master, tools and sasldb for the Cyrus tests. Never
    # cyrus-imapd or courier-imap (they remove dovecot-imapd): the testkit unpacks those
    # privately with `apt-get download` + `dpkg-deb -x` (cached in /var/cache/passeur-test).
    local wanted=(dovecot-imapd dovecot-pop3d isync radicale xandikos pst-utils pff-tools openssl time dnsmasq-base python3-aiosmtpd chromium chromium-driver curl cyrus-common sasl2-bin)
    local missing=()
    for p in "${wanted[@]}"; do installed "$p" || missing+=("$p"); done
    if [ ${#missing[@]} -eq 0 ]; then
        note "all present: ${wanted[*]}"
        return 0
    fi
    if ! is_root; then
        note "MISSING (not root, not installing): ${missing[*]}"
        note "tests needing them will fail; run this script as root to install them"
        return 0
    fi
    local dovecot_was_up=0 radicale_was_up=0
    system_dovecot_up && dovecot_was_up=1
    system_radicale_up && radicale_was_up=1

    note "installing: ${missing[*]}"
    # Refresh the package lists only if they are absent or the install fails.
    if ! ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1; then apt_update; fi
    if ! apt_install "${missing[@]}"; then
        apt_update
        if ! apt_install "${missing[@]}"; then
            note "bulk install failed; trying one by one"
            for p in "${missing[@]}"; do apt_install "$p" || note "FAILED to install $p"; done
        fi
    fi

    # Radicale from PyPI if the Debian package is unavailable.
    if ! installed radicale && ! command -v radicale >/dev/null 2>&1; then
        note "radicale: Debian package unavailable, trying PyPI"
        installed python3-pip || apt_install python3-pip || true
        pip install --break-system-packages radicale 2>/dev/null || pip install radicale ||
            note "FAILED to install radicale"
    fi

    # The tests run private instances; don't leave the system services running.
    if [ $dovecot_was_up -eq 0 ] && system_dovecot_up; then
        note "stopping the system dovecot service started by the install"
        service dovecot stop >/dev/null 2>&1 || doveadm stop >/dev/null 2>&1 || true
    fi
    if [ $radicale_was_up -eq 0 ] && system_radicale_up; then
        note "stopping the system radicale service started by the install"
        service radicale stop >/dev/null 2>&1 || true
    fi
}

# PostgreSQL for the store's tests (crates/testkit/src/postgres.rs): the `postgresql` Debian
# package, its cluster started on 127.0.0.1:5432, and the test role `passeur_test` (password
# `passeur_test`, CREATEDB) able to log in there. Each step is skipped when already done.
pg_as_admin() {
    # Trust on TCP (as the CI machine has), else the Debian default: peer auth on the socket.
    psql -X -q -w -h 127.0.0.1 -p 5432 -U postgres -d postgres -v ON_ERROR_STOP=1 "$@" 2>/dev/null ||
        { is_root && (cd / && runuser -u postgres -- psql -X -q -p 5432 -d postgres -v ON_ERROR_STOP=1 "$@"); }
}

ensure_postgres() {
    if ! command -v pg_ctlcluster >/dev/null 2>&1; then
        if [ "${SKIP_INSTALL:-0}" = 1 ]; then
            note "PostgreSQL not installed (SKIP_INSTALL=1): the store's PostgreSQL tests will fail"
            return 0
        fi
        if ! is_root; then
            note "PostgreSQL not installed and we are not root: the store's PostgreSQL tests will fail"
            return 0
        fi
        note "installing postgresql"
        if ! ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1; then apt_update; fi
        apt_install postgresql || { apt_update && apt_install postgresql; } ||
            { note "FAILED to install postgresql"; return 0; }
    fi
    local version
    version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1)
    if [ -z "$version" ]; then
        if ! is_root; then
            note "no PostgreSQL cluster and we are not root: not creating one"
            return 0
        fi
        version=$(ls /usr/lib/postgresql | sort -V | tail -n1)
        note "creating the PostgreSQL $version/main cluster"
        pg_createcluster --port 5432 "$version" main || { note "FAILED to create a cluster"; return 0; }
    fi
    if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
        note "PostgreSQL is up on 127.0.0.1:5432"
    elif ! is_root; then
        note "PostgreSQL is down and we are not root: not starting it"
        return 0
    else
        note "starting PostgreSQL $version/main"
        pg_ctlcluster --skip-systemctl-redirect "$version" main start || note "FAILED to start PostgreSQL"
        local up=0
        for _ in $(seq 1 30); do
            pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && { up=1; break; }
            sleep 1
        done
        if [ $up -eq 0 ]; then
            note "PostgreSQL did not become ready on 127.0.0.1:5432"
            return 0
        fi
        note "PostgreSQL is up"
    fi
    # The test role, with the password testkit uses (scram on Debian's default pg_hba for
    # 127.0.0.1; trust works too).
    if PGPASSWORD=passeur_test psql -X -q -w -h 127.0.0.1 -p 5432 -U passeur_test -d postgres \
        -c 'SELECT 1' >/dev/null 2>&1; then
        note "role passeur_test logs in on 127.0.0.1:5432"
        return 0
    fi
    pg_as_admin -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'passeur_test') THEN CREATE ROLE passeur_test LOGIN PASSWORD 'passeur_test' CREATEDB; ELSE ALTER ROLE passeur_test LOGIN PASSWORD 'passeur_test' CREATEDB; END IF; END \$\$;" ||
        note "FAILED to create role passeur_test"
    if PGPASSWORD=passeur_test psql -X -q -w -h 127.0.0.1 -p 5432 -U passeur_test -d postgres \
        -c 'SELECT 1' >/dev/null 2>&1; then
        note "role passeur_test logs in on 127.0.0.1:5432"
    else
        note "role passeur_test cannot log in on 127.0.0.1:5432: check pg_hba.conf"
    fi
}

ensure_rust_tools() {
    if ! command -v cargo >/dev/null 2>&1; then
        echo "cargo not found: install Rust (https://rustup.rs) first" >&2
        exit 2
    fi
    note "$(cargo --version)"
    if command -v rustup >/dev/null 2>&1; then
        cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
        cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
    fi
    if cargo nextest --version >/dev/null 2>&1; then
        note "$(cargo nextest --version 2>/dev/null | head -n1)"
    else
        note "installing cargo-nextest"
        cargo install --locked cargo-nextest || note "cargo-nextest unavailable: falling back to cargo test"
    fi
}

FAILED=()
run_step() {
    local name=$1
    shift
    step "$name  [$(elapsed)]"
    note "\$ $*"
    if "$@"; then
        note "$name: OK"
    else
        note "$name: FAILED"
        FAILED+=("$name")
    fi
}

step "passeur test suite in $ROOT_DIR"
if [ "${SKIP_INSTALL:-0}" = 1 ]; then
    note "SKIP_INSTALL=1: not checking packages"
else
    step "system packages"
    install_packages
fi
step "PostgreSQL"
ensure_postgres
step "Rust tools"
ensure_rust_tools

export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-always}
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}

if cargo nextest --version >/dev/null 2>&1; then
    run_step "tests (nextest)" cargo nextest run --workspace --no-fail-fast \
        ${NEXTEST_PROFILE:+--profile "$NEXTEST_PROFILE"}
else
    run_step "tests (cargo test)" cargo test --workspace --no-fail-fast
fi
run_step "format" cargo fmt --all --check
run_step "clippy" cargo clippy --workspace --all-targets -- -D warnings
run_step "fuzz targets build" cargo check --manifest-path fuzz/Cargo.toml --bins --target-dir target/fuzz
run_step "docs (warnings are errors)" env RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet

step "summary  [$(elapsed)]"
if [ ${#FAILED[@]} -eq 0 ]; then
    note "all steps passed"
    exit 0
fi
note "FAILED: ${FAILED[*]}"
exit 1
