#!/usr/bin/env bash
# web-test.sh: runs the web page's end-to-end test (tests/web/e2e.mjs) in headless Chromium.
#
# playwright-core comes from the npm registry at the version tests/web/package-lock.json pins,
# installed with `npm ci` into WEB_TEST_DIR (default build/web-test, outside the source tree)
# when the lock file changed; it never downloads a browser: the test launches Debian's
# /usr/bin/chromium (tools/deps.sh installs it with the test packages). The environment the
# test reads (BASE, EMAIL, CODE, WORKSPACE, TZ_ID, READY_FILE, SHOTS) passes through; see the
# header of tests/web/e2e.mjs. tests/integration/test_web.c runs this against a stack it
# started; `make screenshots` runs that test with SHOTS=docs/images.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${WEB_TEST_DIR:-$ROOT/build/web-test}
for tool in node npm /usr/bin/chromium; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "web-test: $tool is missing (make deps installs it)" >&2
        exit 2
    }
done
mkdir -p "$OUT"
cp "$ROOT/tests/web/package.json" "$ROOT/tests/web/package-lock.json" "$ROOT/tests/web/e2e.mjs" "$OUT/"
if ! cmp -s "$OUT/package-lock.json" "$OUT/.installed-lock.json" || [ ! -d "$OUT/node_modules" ]; then
    (cd "$OUT" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
    cp "$OUT/package-lock.json" "$OUT/.installed-lock.json"
fi
exec node "$OUT/e2e.mjs"
