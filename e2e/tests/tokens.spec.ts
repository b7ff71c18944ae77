import { test, expect, demoUsers, uniqueSuffix } from './fixtures';

test('an API token works as a Bearer token until it is revoked in the UI', async ({ page, loginAs, request }) => {
  await loginAs('demo-admin', '/');
  await page.getByTestId('nav-profile').click();
  await expect(page).toHaveURL(/\/profile$/);

  const name = `e2e token ${uniqueSuffix()}`;
  await page.getByTestId('token-form').locator('#field-name').fill(name);
  await page.getByTestId('create-token').click();

  // The secret is shown once, with the warning, and the token is listed as active.
  const secret = page.getByTestId('new-token-value');
  await expect(secret).toBeVisible();
  const token = (await secret.textContent())!.trim();
  expect(token).toMatch(/^floh_\S{20,}$/);
  await expect(page.getByTestId('new-token')).toContainText('It is shown only once');
  const row = page.getByTestId(`token-row-${name}`);
  await expect(row.locator('.badge')).toHaveText('active');
  // The list shows only the token's prefix, never the secret.
  await expect(page.getByTestId('tokens-table')).not.toContainText(token);

  // `request` is a separate context without the browser's cookies: only the token counts.
  const anonymous = await request.get('/api/auth/me');
  expect(anonymous.status()).toBe(401);
  const me = await request.get('/api/auth/me', { headers: { Authorization: `Bearer ${token}` } });
  expect(me.status()).toBe(200);
  expect(await me.json()).toMatchObject({
    email: demoUsers['demo-admin'].email,
    authenticatedWith: 'token',
    roles: ['Admin'],
  });

  // Shown once: opening the profile again shows no secret.
  await page.goto('/profile');
  await expect(page.getByTestId('new-token-value')).toHaveCount(0);
  await expect(page.locator('body')).not.toContainText(token);

  // Revoke it in the UI.
  await page.getByTestId(`revoke-${name}`).click();
  await expect(page).toHaveURL(/\/profile$/);
  await expect(page.getByTestId('flash')).toContainText(`Revoked the token “${name}”`);
  await expect(row.locator('.badge')).toHaveText('revoked');
  await expect(page.getByTestId(`revoke-${name}`)).toHaveCount(0);

  const after = await request.get('/api/auth/me', { headers: { Authorization: `Bearer ${token}` } });
  expect(after.status()).toBe(401);
  expect(await after.json()).toMatchObject({ error: { code: 'unauthenticated' } });
});

test('bad token input is refused with each field named, and nothing is created', async ({ page, loginAs }) => {
  await loginAs('demo-manager', '/profile');
  const form = page.getByTestId('token-form');
  await form.getByLabel('Expires after (days)').fill('400');
  // A permission the form never offers (as a stale or tampered form would send).
  await form.getByRole('checkbox', { name: 'user:read' }).evaluate((el: HTMLInputElement) => {
    el.value = 'nope:nothing';
    el.checked = true;
  });
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/profile/tokens')),
    page.getByTestId('create-token').click(),
  ]);
  expect(response.status()).toBe(422);

  const summary = page.getByTestId('error-summary');
  await expect(summary).toBeFocused();
  const name = summary.getByRole('link', { name: /^Name / });
  const expiry = summary.getByRole('link', { name: /^Expiry / });
  const permission = summary.getByRole('link', { name: /^Permission / });
  await expect(name).toHaveAttribute('href', '#field-name');
  await expect(expiry).toHaveAttribute('href', '#field-expiresInDays');
  await expect(permission).toHaveAttribute('href', '#field-permissions');
  await expect(permission).toContainText('nope:nothing');

  // Each field says what is wrong with it, and is tied to its message.
  await expect(page.locator('#field-name')).toHaveAttribute('aria-invalid', 'true');
  const days = form.getByLabel('Expires after (days)');
  await expect(days).toHaveValue('400');
  await expect(days).toHaveAttribute('aria-invalid', 'true');
  await expect(days).toHaveAccessibleDescription(/must be between 1 and 365 days/);
  await expect(page.locator('#field-permissions .field-error')).toContainText('nope:nothing');

  // Every link of the summary reaches its field.
  await name.click();
  await expect(page.locator('#field-name')).toBeFocused();
  await permission.click();
  await expect(page.locator('#field-permissions')).toBeFocused();

  await expect(page.getByTestId('new-token-value')).toHaveCount(0);
  await expect(page.getByTestId('tokens-table')).toHaveCount(0);
});

test('an expiry of 0 days is refused, not turned into the 90-day default', async ({ page, loginAs }) => {
  await loginAs('demo-approver', '/profile');
  const name = `zero days ${uniqueSuffix()}`;
  const form = page.getByTestId('token-form');
  await form.locator('#field-name').fill(name);
  await form.getByLabel('Expires after (days)').fill('0');
  await page.getByTestId('create-token').click();
  await expect(page.getByTestId('error-summary').getByRole('link', { name: /^Expiry / }), 'expiry 0 is refused').toBeVisible({
    timeout: 3_000,
  });
  await expect(page.getByTestId(`token-row-${name}`)).toHaveCount(0);
});
