#!/usr/bin/env bash
# Installs what the HTML report's browser test drives (tests/test_html_report.py): Debian's
# headless Chromium, its WebDriver, and a Japanese font for the `--lang ja` screenshot.
# Idempotent: apt-get runs only when a package is missing (as root, or through sudo).
set -euo pipefail
packages=(chromium chromium-driver fonts-ipafont-gothic)
if dpkg -s "${packages[@]}" >/dev/null 2>&1; then
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
install() { $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null; }
# A fresh machine may have no package lists yet.
install || { $sudo apt-get update -qq && install; }
