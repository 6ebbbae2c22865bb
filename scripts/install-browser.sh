#!/usr/bin/env bash
# Install headless Chromium (Debian package `chromium`) for the one test that renders
# `mudjack report`'s HTML in a real browser (tests/test_report.py). Only `make test` runs this;
# without root, or without the package archive, the test is skipped and says why.
set -uo pipefail
for exe in chromium chromium-browser google-chrome; do
  if command -v "$exe" >/dev/null; then echo "browser: $exe already installed"; exit 0; fi
done
if [ "$(id -u)" != 0 ]; then
  echo "browser: not root, chromium not installed (the HTML rendering test will be skipped)"
  exit 0
fi
echo "browser: apt-get install chromium"
if ! (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends chromium >/dev/null); then
  echo "browser: chromium could not be installed (the HTML rendering test will be skipped)"
fi
exit 0
