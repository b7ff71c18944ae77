import { test, expect, signInPageURL, uniqueEmail } from './fixtures';

test('signing out lands on /signed-out and the next visit needs a new sign-in', async ({ page, loginAs }) => {
  await loginAs('demo-admin', '/users');
  await page.getByTestId('logout').click();

  await expect(page).toHaveURL(/\/signed-out$/);
  await expect(page.getByTestId('signed-out')).toContainText('You are signed out');
  await expect(page.getByTestId('nav-profile')).toHaveCount(0);
  await expect(page.getByTestId('logout')).toHaveCount(0);
  // The session is gone for scripts in this browser too.
  expect((await page.request.get('/api/auth/me')).status()).toBe(401);

  // Back does not bring the signed-in page back from a cache (pages are Cache-Control: no-store).
  await page.goBack();
  await expect(page).toHaveURL(signInPageURL);
  await expect(page.getByTestId('users-table')).toHaveCount(0);

  await page.goto('/users');
  await expect(page).toHaveURL(signInPageURL);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Sign in to Floh (development)');
  await expect(page.getByTestId('devoidc-user-demo-admin')).toBeVisible();
});

test('"Sign in again" on /signed-out starts a new sign-in', async ({ page, loginAs, baseURL }) => {
  await loginAs('demo-approver', '/');
  await page.getByTestId('logout').click();
  await page.getByTestId('sign-in-again').click();
  await expect(page).toHaveURL(signInPageURL);
  await page.getByTestId('devoidc-user-demo-approver').click();
  await expect(page).toHaveURL(`${baseURL}/`);
  await expect(page.getByTestId('nav-profile')).toHaveText('Alex Approver');
});

test('a requestor is refused the admin pages and API', async ({ page, loginAs }) => {
  await loginAs('demo-requestor', '/');

  const nav = page.getByRole('navigation', { name: 'Main' });
  await expect(nav.getByTestId('nav-dashboard')).toBeVisible();
  await expect(nav.getByTestId('nav-users')).toHaveCount(0);
  await expect(nav.getByTestId('nav-settings')).toHaveCount(0);
  await expect(nav.getByTestId('nav-audit')).toHaveCount(0);

  const resp = await page.goto('/users');
  expect(resp?.status()).toBe(403);
  await expect(page.getByTestId('error-403')).toBeVisible();
  await expect(page.getByTestId('error-403')).toContainText('user:read');
  await expect(page.getByTestId('users-table')).toHaveCount(0);

  // A same-origin fetch from the page carries the session cookie, and is still refused.
  const email = uniqueEmail('requestor-made');
  const answer = await page.evaluate(async (email) => {
    const r = await fetch('/api/users', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ email, displayName: 'Should Not Exist' }),
    });
    return { status: r.status, type: r.headers.get('content-type'), body: await r.json() };
  }, email);
  expect(answer.status).toBe(403);
  expect(answer.type).toContain('application/json');
  expect(answer.body).toMatchObject({ error: { code: 'forbidden' } });
  expect(answer.body.error.message).toContain('user:manage');

  // The session itself is fine: the same fetch style reads the caller's own identity.
  const me = await page.evaluate(async () => (await fetch('/api/auth/me')).json());
  expect(me).toMatchObject({ email: 'requestor@example.test', authenticatedWith: 'session' });
});

test('a deep link survives the sign-in round trip', async ({ page, baseURL }) => {
  await page.goto('/audit?entity=user');
  await expect(page).toHaveURL(signInPageURL);
  await page.getByTestId('devoidc-user-demo-admin').click();

  await expect(page).toHaveURL(`${baseURL}/audit?entity=user`);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Audit log');
  await expect(page.getByLabel('Entity')).toHaveValue('user');
  await expect(page.getByTestId('nav-audit')).toHaveAttribute('aria-current', 'page');

  // The chain check answers in place.
  await page.getByTestId('verify-audit').click();
  await expect(page.getByTestId('audit-verify-ok')).toContainText('every hash matches');
});
