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
