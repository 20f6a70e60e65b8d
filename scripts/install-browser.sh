#!/bin/sh
# Installs Debian's chromium for the web console's browser test (test/ui/console.test.ts),
# driven by playwright-core. Run by `npm test` before the tests; a no-op when it is there.
exec sh "$(dirname "$0")/apt-install.sh" chromium /usr/bin/chromium "the web console's browser test"
