#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine: Dovecot, openssl, the package + test extras.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v dovecot >/dev/null 2>&1 && [ ! -x /usr/sbin/dovecot ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dovecot-imapd openssl >/dev/null
  # the package starts a system-wide Dovecot: the tests run their own, so stop that one
  $SUDO systemctl disable --now dovecot >/dev/null 2>&1 || $SUDO service dovecot stop >/dev/null 2>&1 || true
fi
python3 -m pip install -q --disable-pip-version-check -e '.[test,notebook]'
