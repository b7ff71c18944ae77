import { defineConfig } from '@playwright/test';

// The suite drives the built binary (../bin/floh) in the system's Chromium. Playwright never
// downloads a browser here: `npx playwright install` is not part of any step.
const port = Number(process.env.E2E_PORT ?? 18181);
export const baseURL = `http://127.0.0.1:${port}`;
// The LDAP fixture (fixtures/ldap) serves its slapd's connection details here.
const ldapPort = Number(process.env.E2E_LDAP_PORT ?? port + 1);
export const ldapFixtureURL = `http://127.0.0.1:${ldapPort}/`;

export default defineConfig({
  testDir: './tests',
  // One server, one database: tests run one at a time and make their own data.
  workers: 1,
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  retries: 0,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  reporter: process.env.CI ? [['list'], ['html', { open: 'never' }]] : [['list']],
  outputDir: './test-results',
  use: {
    baseURL,
    viewport: { width: 1280, height: 800 },
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: process.env.E2E_CHROMIUM ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
    },
  },
  projects: [{ name: 'chromium', use: { browserName: 'chromium' } }],
  webServer: [{
    // serve.sh starts ../bin/floh serve on a fresh data dir (initdb + migrations each run).
    command: './serve.sh',
    url: `${baseURL}/api/health`,
    env: { E2E_PORT: String(port) },
    timeout: 120_000,
    // Never attach to a server left running by someone else: its data is not fresh.
    reuseExistingServer: false,
    // serve.sh writes the server's own log to e2e/server.log and prints its end on failure.
    stdout: 'pipe',
    stderr: 'pipe',
    // Playwright's default is SIGKILL, which would leave the embedded PostgreSQL running.
    gracefulShutdown: { signal: 'SIGTERM', timeout: 30_000 },
  }, {
    // A throwaway OpenLDAP slapd with the account jdoe; SIGTERM stops it and removes its files.
    command: `../bin/ldapfixture -addr 127.0.0.1:${ldapPort}`,
    url: ldapFixtureURL,
    timeout: 30_000,
    reuseExistingServer: false,
    stdout: 'pipe',
    stderr: 'pipe',
    gracefulShutdown: { signal: 'SIGTERM', timeout: 10_000 },
  }],
});
