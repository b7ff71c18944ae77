import { test, expect } from './fixtures';

// The server's clock is real here, so the remaining lifetimes are answered by the test; the
// "Stay signed in" button then talks to the real server.
const info = (idle: number, absolute: number) => ({
  maxSessionLifetime: 86400,
  maxIdleSessionLifetime: 28800,
  remainingSessionLifetime: absolute,
  remainingIdleLifetime: idle,
});

test('a session about to time out warns, and "Stay signed in" extends it', async ({ page, loginAs }) => {
  await loginAs('demo-admin', '/users');
  await page.route('**/api/auth/session', (route) => route.fulfill({ json: info(240, 50_000) }));
  await page.reload();
  const warning = page.getByTestId('session-warning');
  await expect(warning).toContainText('You will be signed out in 4 minutes because of inactivity.');
  await page.unroute('**/api/auth/session');
  const extended = page.waitForResponse((r) => r.url().endsWith('/api/auth/session/extend'));
  await page.getByTestId('session-extend').click();
  const resp = await extended;
  expect(resp.status(), 'the extend POST from the page passes CSRF').toBe(200);
  expect((await resp.json()).remainingIdleLifetime).toBeGreaterThan(28_000);
  await expect(warning).toBeHidden();
});

test('the 24-hour limit cannot be extended: the warning says to sign in again', async ({ page, loginAs }) => {
  await loginAs('demo-admin', '/audit');
  await page.route('**/api/auth/session', (route) => route.fulfill({ json: info(20_000, 300) }));
  await page.reload();
  const warning = page.getByTestId('session-warning');
  await expect(warning).toContainText('24-hour limit in 5 minutes');
  await expect(page.getByTestId('session-extend')).toBeHidden();
  await expect(warning.getByRole('link', { name: 'Sign in again' })).toHaveAttribute('href', '/api/auth/login?returnTo=%2Faudit');
});

test('an ended session is said at once, with a way back to this page', async ({ page, loginAs }) => {
  await loginAs('demo-admin', '/events');
  await page.route('**/api/auth/session', (route) => route.fulfill({ status: 401, json: { error: { code: 'unauthenticated' } } }));
  await page.reload();
  await expect(page.getByTestId('session-warning')).toContainText('Your session has ended.');
  await page.getByTestId('session-warning').getByRole('link', { name: 'Sign in again' }).click();
  await expect(page).toHaveURL(/\/dev\/oidc\/login\?id=/);
});
