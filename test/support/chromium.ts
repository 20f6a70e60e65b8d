/** Debian's chromium, installed by scripts/install-browser.sh (run by npm test). */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Headless, as root, and quiet: this machine's network is closed, so Chromium's background
 * connections (updates, sync, QUIC) are switched off instead of failing at every start.
 */
export const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
