#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine: Dovecot and openssl (IMAP tests),
# PostgreSQL (the team database), Chromium (the browser test), the package with its test and
# notebook extras, then real mailing-list threads (scripts/fetch-threads.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
missing=()
# the files the tests run, not just a binary name: dovecot-core alone has no IMAP service
# (and COMPRESS=DEFLATE's plugins, which the test Dovecot loads)
[ -x /usr/sbin/dovecot ] && [ -x /usr/lib/dovecot/imap ] && [ -x /usr/lib/dovecot/imap-login ] \
  && [ -f /usr/lib/dovecot/modules/lib30_imap_zlib_plugin.so ] \
  && [ -f /usr/lib/dovecot/modules/lib20_zlib_plugin.so ] || missing+=(dovecot-imapd)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# the Debian package may start a system-wide Dovecot: the tests run their own
$SUDO systemctl disable --now dovecot >/dev/null 2>&1 || $SUDO service dovecot stop >/dev/null 2>&1 || true
# the project's own virtual environment (README's commands use .venv/): a stock Debian or Ubuntu
# Python refuses pip outside one, and may lack venv's ensurepip (python3-venv)
if [ ! -x .venv/bin/python ]; then
  if ! python3 -m venv .venv >/dev/null 2>&1; then
    rm -rf .venv
    echo "installing Debian packages: python3-venv"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv .venv
  fi
fi
# The packages, unless .venv/ already has what pyproject.toml and constraints.txt say (their
# digest, with the Python's version, kept in .venv/ once installed): pip takes ~10 s to find
# that nothing changed.
wanted=$( (cat pyproject.toml constraints.txt; .venv/bin/python -VV) | cksum)
stamp=.venv/primsync-setup.cksum
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  rm -f "$stamp"
  # pip itself first, at constraints.txt's version: the pip a Python carries (23.x in 3.11) took
  # 87 CPU-s to resolve and install the notebook tools where 26.3 takes 44 (most of it resolving)
  .venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt --upgrade pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt \
    -e '.[test,notebook,worker]'
  echo "$wanted" > "$stamp"
fi
# real mailing-list threads for the reply-detection test (benchmarks/threads.py): when they
# cannot be fetched, that test says why (and fails under CI)
bash scripts/fetch-threads.sh || echo "warning: notmuch's test corpora could not be fetched (scripts/fetch-threads.sh)" >&2
