#!/usr/bin/env bash
# Installs Debian's chromium for the headless-browser test of the comparison report (tests/compare/test_report_browser.py).
exec bash "$(dirname "$0")/ci_apt_tool.sh" chromium chromium "the browser test of report.html"
