/**
 * Headless Chromium for end-to-end tests of the web dashboard: the Debian
 * `chromium` package (installed when missing and running as root, see
 * debian.ts) driven by playwright-core, which ships no browser of its own.
 */
import { chromium, type Browser } from 'playwright-core';
import { requireCommand } from './debian.js';

export function chromiumPath(): string {
  return requireCommand('chromium', 'chromium');
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    // The tests run as root, where Chromium's sandbox cannot start.
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
}
