#!/usr/bin/env bash
# Installs Debian's chromium for the headless-browser tests (tests/compare/test_report_browser.py, tests/console/test_browser.py; the latter drive it through Playwright, which needs no browser of its own).
# Never fails the build: without chromium those tests are skipped with a reason, and this script says why it could not install it.
set -uo pipefail

if command -v chromium >/dev/null 2>&1; then
  echo "ci_chromium: $(chromium --version 2>/dev/null | head -n 1) already installed"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ci_chromium: no apt-get on this machine; the browser tests will be skipped"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    echo "ci_chromium: not root and no passwordless sudo; the browser tests will be skipped"
    exit 0
  fi
fi
if $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null; then
  echo "ci_chromium: installed $(chromium --version 2>/dev/null | head -n 1)"
else
  echo "ci_chromium: apt-get could not install chromium; the browser tests will be skipped"
fi
exit 0
