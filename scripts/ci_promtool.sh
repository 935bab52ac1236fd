#!/usr/bin/env bash
# Installs Debian's prometheus (about 25 MB download) for `promtool check rules` in tests/deploy/test_alert_rules.py.
exec bash "$(dirname "$0")/ci_apt_tool.sh" promtool prometheus "the promtool check of deploy/prometheus/alerts.yml"
