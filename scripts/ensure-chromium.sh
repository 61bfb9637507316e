#!/bin/sh
# Installs Debian's Chromium for the browser tests when it is missing.
# Never downloads a browser of Playwright's own: Playwright drives /usr/bin/chromium.
# A CJK font too, so the language tests see Japanese, Chinese and Korean wrap as users do.
set -eu
if [ -x /usr/bin/chromium ] && [ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ]; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian's chromium for the browser tests..."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        chromium fonts-dejavu-core fonts-wqy-microhei >/dev/null
    exit 0
fi
if [ -n "${CI:-}" ]; then
    echo "error: /usr/bin/chromium is missing and cannot be installed (not root, no apt-get)" >&2
    exit 1
fi
echo "warning: /usr/bin/chromium is missing; browser tests will be skipped." \
     "Install Debian's 'chromium' package to run them." >&2
