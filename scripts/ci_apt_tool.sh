#!/usr/bin/env bash
# Installs a Debian package for the tests that use one of its commands: ci_apt_tool.sh COMMAND PACKAGE WHAT_SKIPS.
# Never fails the build: without the command the tests that need it are skipped with a reason, and this script
# says why it could not install the package.
set -uo pipefail
tool="$1" package="$2" skipped="$3"

if command -v "$tool" >/dev/null 2>&1; then
  echo "ci_apt_tool: $tool already installed"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ci_apt_tool: no apt-get on this machine; $skipped will be skipped"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
  else
    echo "ci_apt_tool: not root and no passwordless sudo; $skipped will be skipped"
    exit 0
  fi
fi
if $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$package" >/dev/null; then
  echo "ci_apt_tool: installed $package ($(command -v "$tool"))"
else
  echo "ci_apt_tool: apt-get could not install $package; $skipped will be skipped"
fi
exit 0
