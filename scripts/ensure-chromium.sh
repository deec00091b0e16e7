#!/usr/bin/env bash
# Make sure the browser the screen tests drive (tests/screen, Playwright with the system browser) is installed:
# Debian's `chromium` at /usr/bin/chromium. Playwright's own browser download is never used (it fails offline and
# pins a build we did not choose). Non-interactive; as root it runs apt-get directly, otherwise through `sudo -n`.
set -euo pipefail

BROWSER=/usr/bin/chromium

if [ -x "$BROWSER" ]; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-chromium: no $BROWSER and no apt-get: install Chromium by hand" >&2
    exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    sudo=(sudo -n)
fi

echo "ensure-chromium: installing the Debian package chromium" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q </dev/null
"${sudo[@]}" apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core </dev/null

if [ ! -x "$BROWSER" ]; then
    echo "ensure-chromium: chromium is installed but $BROWSER was not found" >&2
    exit 1
fi
