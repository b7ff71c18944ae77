import { test, expect, uniqueEmail, uniqueSuffix, addUserInUI } from './fixtures';

test.describe('users as an admin', () => {
  test('soft-delete a user, find it only with "Show deleted users", restore it', async ({ page, loginAs }) => {
    await loginAs('demo-admin', '/');
    const email = uniqueEmail('delete');
    const name = `Dora Delete ${uniqueSuffix()}`;

    // Add the user through the form, as an admin would.
    await page.getByTestId('nav-users').click();
    await expect(page).toHaveURL(/\/users$/);
    await expect(page.getByTestId('nav-users')).toHaveAttribute('aria-current', 'page');
    const id = await addUserInUI(page, { email, displayName: name, roles: ['Requestor'] });
    await expect(page.locator('.sub .badge').first()).toHaveText('active');

    // Delete: the button leads to a confirmation page that names the user and the consequences.
    await page.getByTestId('delete-user').click();
    await expect(page).toHaveURL(new RegExp(`/users/${id}/delete$`));
    const confirm = page.getByTestId('confirm');
    await expect(confirm.getByRole('heading', { level: 1 })).toHaveText(`Delete ${name} (${email})?`);
    await expect(confirm).toContainText('They have no active API token.');
    await page.getByTestId('confirm-button').click();

    // Back on the user page, marked deleted, with Restore instead of Edit/Delete.
    await expect(page).toHaveURL(new RegExp(`/users/${id}$`));
    await expect(page.getByTestId('flash')).toHaveText(`Deleted ${email}. You can restore them from this page.`);
    await expect(page.getByTestId('deleted-note')).toBeVisible();
    await expect(page.locator('.sub .badge').first()).toHaveText('deleted');
    await expect(page.getByTestId('restore-user')).toBeVisible();
    await expect(page.getByTestId('edit-user')).toHaveCount(0);
    await expect(page.getByTestId('delete-user')).toHaveCount(0);
    await expect(page.getByTestId('roles-form')).toHaveCount(0);

    // The list hides deleted users...
    await page.getByTestId('nav-users').click();
    await expect(page.getByTestId('users-table')).toBeVisible();
    await expect(page.getByTestId(`user-row-${email}`)).toHaveCount(0);
    // ...also when searched for by email (the htmx search swaps the table)...
    await page.getByTestId('users-search').fill(email);
    await expect(page).toHaveURL(/[?&]q=/);
    await expect(page.getByTestId('empty-state')).toContainText(`No users match “${email}”`);
    await expect(page.getByTestId('empty-state')).toContainText('Deleted users are hidden');
    await expect(page.getByTestId(`user-row-${email}`)).toHaveCount(0);
    // ...unless "Show deleted users" is ticked.
    await page.getByTestId('users-include-deleted').check();
    const row = page.getByTestId(`user-row-${email}`);
    await expect(row).toBeVisible();
    await expect(row.locator('.badge', { hasText: 'deleted' })).toBeVisible();
    await expect(page).toHaveURL(/includeDeleted=true/);
    // The filtered list survives a reload (the URL was pushed).
    await page.reload();
    await expect(page.getByTestId('users-include-deleted')).toBeChecked();
    await expect(page.getByTestId('users-search')).toHaveValue(email);
    await expect(page.getByTestId(`user-row-${email}`)).toBeVisible();

    // Restore from the user page.
    await row.getByRole('link', { name }).click();
    await expect(page).toHaveURL(new RegExp(`/users/${id}$`));
    await page.getByTestId('restore-user').click();
    await expect(page.getByTestId('flash')).toHaveText(`Restored ${email}. They can sign in again.`);
    await expect(page.getByTestId('deleted-note')).toHaveCount(0);
    await expect(page.locator('.sub .badge').first()).toHaveText('active');
    await expect(page.getByTestId('delete-user')).toBeVisible();
    await expect(page.getByTestId('role-Requestor')).toBeChecked();

    // Active again: listed without ticking "Show deleted users".
    await page.goto(`/users?q=${encodeURIComponent(email)}`);
    await expect(page.getByTestId('users-include-deleted')).not.toBeChecked();
    const restored = page.getByTestId(`user-row-${email}`);
    await expect(restored).toBeVisible();
    await expect(restored.locator('.badge', { hasText: 'active' })).toBeVisible();
  });

  test('the Add user form keeps what was typed and names the invalid field', async ({ page, loginAs }) => {
    await loginAs('demo-admin', '/users/new');
    const form = page.getByTestId('user-form');
    const badEmail = `not-an-email-${uniqueSuffix()}`;
    await form.getByLabel('Email address').fill(badEmail);
    await form.getByLabel('Display name').fill('Ivy Invalid');
    await form.getByLabel('Upstream id').fill('up-42');
    await form.locator('input[name="roles"][value="Approver"]').check();

    const [response] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/users')),
      page.getByTestId('save-user').click(),
    ]);
    expect(response.status()).toBe(422);

    const summary = page.getByTestId('error-summary');
    await expect(summary).toBeVisible();
    await expect(summary.getByRole('heading')).toHaveText('There is a problem');
    const link = summary.getByRole('link', { name: /^Email address / });
    await expect(link).toHaveText(`Email address "${badEmail}" is not an email address like name@example.com`);
    await expect(link).toHaveAttribute('href', '#field-email');
    // app.js moves focus to the summary so keyboard and screen-reader users land on it.
    await expect(summary).toBeFocused();

    // Everything typed is still there; the bad field is marked and described by its error.
    const email = form.getByLabel('Email address');
    await expect(email).toHaveValue(badEmail);
    await expect(email).toHaveAttribute('aria-invalid', 'true');
    await expect(email).toHaveAccessibleDescription(/is not an email address/);
    await expect(form.getByLabel('Display name')).toHaveValue('Ivy Invalid');
    await expect(form.getByLabel('Upstream id')).toHaveValue('up-42');
    await expect(form.locator('input[name="roles"][value="Approver"]')).toBeChecked();
    await expect(page).toHaveTitle(/Add user/);

    // The summary's link takes the user to the field.
    await link.click();
    await expect(email).toBeFocused();

    // Fixing the email saves the user.
    const good = uniqueEmail('fixed');
    await email.fill(good);
    await page.getByTestId('save-user').click();
    await expect(page.getByTestId('flash')).toContainText(`Added ${good}`);
    await expect(page.getByTestId('role-Approver')).toBeChecked();
  });
});

test.describe('users as a resource manager', () => {
  test('can read users but not change them', async ({ page, loginAs }) => {
    await loginAs('demo-manager', '/users');
    await expect(page.getByTestId('users-table')).toBeVisible();
    await expect(page.getByTestId('new-user')).toHaveCount(0);

    // The demo directory's users come first (newest first): search for the admin.
    await page.goto('/users?q=admin@example.test');
    const row = page.getByTestId('user-row-admin@example.test');
    await row.getByRole('link').click();
    await expect(page.getByTestId('user-name')).toHaveText('Ada Admin');
    await expect(page.getByTestId('edit-user')).toHaveCount(0);
    await expect(page.getByTestId('delete-user')).toHaveCount(0);
    await expect(page.getByTestId('roles-form')).toHaveCount(0);

    const resp = await page.goto('/users/new');
    expect(resp?.status()).toBe(403);
    await expect(page.getByTestId('error-403')).toBeVisible();
  });
});

test.describe('guard rails', () => {
  test('an admin cannot remove their own Admin role', async ({ page, loginAs }) => {
    await loginAs('demo-admin', '/users?q=admin%40example.test');
    await page.getByTestId('user-row-admin@example.test').getByRole('link').click();
    await expect(page.getByTestId('user-name')).toHaveText('Ada Admin');
    // No Delete button on one's own page.
    await expect(page.getByTestId('delete-user')).toHaveCount(0);

    await page.getByTestId('role-Admin').uncheck();
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/roles')),
      page.getByTestId('save-roles').click(),
    ]);
    expect(response.status()).toBe(422);

    const summary = page.getByTestId('roles-form').getByTestId('error-summary');
    await expect(summary).toBeFocused();
    await expect(summary).toContainText('cannot remove your own Admin role');
    await summary.getByRole('link').click();
    // The link lands on the group of checkboxes, read out with its legend.
    await expect(page.locator('#field-roles')).toBeFocused();
    // Nothing changed: the page shows the stored roles, and the session still has Admin.
    await expect(page.getByTestId('role-Admin')).toBeChecked();
    const me = await page.evaluate(async () => (await fetch('/api/auth/me')).json());
    expect(me.roles).toContain('Admin');
  });
});
