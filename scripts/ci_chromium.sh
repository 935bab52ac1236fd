#!/usr/bin/env bash
# Installs Debian's chromium for the headless-browser tests (tests/compare/test_report_browser.py, tests/console/test_browser.py; the latter drive it through Playwright, which needs no browser of its own).
exec bash "$(dirname "$0")/ci_apt_tool.sh" chromium chromium "the browser tests (report.html, the console)"
