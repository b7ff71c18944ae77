import path from 'node:path';
import { test, expect, uniqueSuffix } from './fixtures';
import type { Page } from '@playwright/test';

// The designer, from the keyboard alone: a new draft, the provisioning chain inserted from its
// template, one error edge removed and the lint warning naming its step, undo, publish, and a
// run of the published version. Nothing here clicks: focus and keys only (fill and
// selectOption type into a field or choose an option as the keyboard does).
// The canvas at each stage is kept as a test artefact under e2e/screenshots/designer-*.png.

const shots = path.join(__dirname, '..', 'screenshots');

async function press(page: Page, testId: string, key = 'Enter') {
  await page.getByTestId(testId).focus();
  await page.keyboard.press(key);
}

// caret: 'initial', as hiding the caret injects a style the page's CSP refuses.
async function canvasShot(page: Page, name: string) {
  await page.getByTestId('designer-canvas').screenshot({ path: path.join(shots, `designer-${name}.png`), caret: 'initial' });
}

test('a provisioning chain designed from the keyboard: template, lint, undo, publish, run', async ({ page, loginAs, request }) => {
  test.setTimeout(120_000);
  const tag = uniqueSuffix();

  // Setup through the API: a token, and the two systems the chain provisions.
  await loginAs('demo-admin', '/profile');
  await page.getByTestId('token-form').locator('#field-name').fill(`designer ${tag}`);
  await press(page, 'create-token');
  const token = (await page.getByTestId('new-token-value').textContent())!.trim();
  const auth = { Authorization: `Bearer ${token}` };
  const adName = `Corp AD ${tag}`;
  const authifiName = `Authifi ${tag}`;
  for (const data of [
    { name: adName, type: 'activedirectory', config: { url: 'ldaps://dc.example.test:636', bindDN: 'CN=svc,DC=example,DC=test', bindPassword: 'not-used', baseDN: 'DC=example,DC=test' } },
    { name: authifiName, type: 'authifi', config: { baseUrl: 'https://authifi.example.test', tenant: 'e2e', tenantId: '1', clientId: 'floh', clientSecret: 'not-used' } },
  ]) {
    const res = await request.post('/api/connectors', { headers: auth, data });
    expect(res.status(), await res.text()).toBe(201);
  }

  // A new draft opens in the designer.
  const name = `New hire ${tag}`;
  await page.goto('/workflows/new');
  await page.locator('#field-name').fill(name);
  await press(page, 'create-workflow');
  await expect(page).toHaveURL(/\/workflows\/[0-9a-f-]{36}\/design$/);
  const workflowId = page.url().split('/')[4];
  await expect(page.getByTestId('lint-panel')).toContainText('Lint: clean');

  // Templates → Insert from Template, in its dialog: the chain, its slots bound.
  await press(page, 'designer-templates');
  await expect(page.getByTestId('template-dialog')).toBeVisible();
  await expect(page.getByTestId('template-group-workflow-definition')).toBeVisible();
  await expect(page.getByTestId('preview-provisioning-chain').locator('svg')).toBeVisible();
  await press(page, 'use-provisioning-chain');
  await expect(page.getByTestId('template-form')).toBeVisible();
  await page.getByTestId('slot-activeDirectory').locator('select').selectOption({ label: adName });
  await page.getByTestId('slot-authifi').locator('select').selectOption({ label: authifiName });
  await press(page, 'insert-template');

  await expect(page).toHaveURL(new RegExp(`/workflows/${workflowId}/design$`));
  await expect(page.getByTestId('flash')).toContainText('Inserted “Provisioning Chain — with failure routing”');
  await expect(page.getByTestId('lint-panel')).toContainText('Lint: clean');
  await expect(page.getByTestId('lint-clean')).toBeVisible();
  await expect(page.locator('#designer a[data-step="createAccount"]')).toBeVisible();
  await canvasShot(page, '1-inserted');

  // Tab reaches the steps; Enter opens one in the editor.
  await page.locator('#designer a[data-step="createAccount"]').focus();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('step-editor')).toContainText('createAccount');
  await expect(page).toHaveURL(/\?step=createAccount$/);
  await expect(page.locator('#field-name')).toBeFocused();

  // Removing its error edge: exactly one warning, naming the step.
  await press(page, 'remove-edge-error');
  await expect(page.getByTestId('designer-saved')).toHaveText('Saved: remove the error edge of createAccount.');
  const warning = page.getByTestId('finding-PROVISIONING_CHAIN_NO_ERROR_EDGE');
  await expect(warning).toHaveCount(1);
  await expect(warning).toContainText('createAccount');
  await expect(page.getByTestId('lint-panel')).toContainText('no errors, 1 warning');
  await canvasShot(page, '2-error-edge-removed');

  // A finding is one key from its step.
  await warning.getByRole('link', { name: 'createAccount' }).focus();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('step-editor')).toContainText('createAccount');

  // Ctrl+Z outside a text field undoes the removal.
  await page.locator('#designer a[data-step="createAccount"]').focus();
  await page.keyboard.press('Control+z');
  await expect(page.getByTestId('designer-saved')).toHaveText('Undone: remove the error edge of createAccount.');
  await expect(page.getByTestId('lint-clean')).toBeVisible();
  await canvasShot(page, '3-undone');

  // Publish through its confirmation.
  await press(page, 'designer-publish');
  await expect(page.getByTestId('publish-review')).toBeVisible();
  await expect(page.getByTestId('publish-clean')).toBeVisible();
  await press(page, 'confirm-button');
  await expect(page).toHaveURL(new RegExp(`/workflows/${workflowId}$`));
  await expect(page.getByTestId('flash')).toContainText('version 1');

  // A run of version 1, with every connector answering from mock data.
  await press(page, 'start-workflow');
  await expect(page).toHaveURL(new RegExp(`/workflows/${workflowId}/start$`));
  const inputs: Record<string, string> = {
    email: `jane.doe.${tag}@example.test`, displayName: 'Jane Doe', username: `jdoe${tag}`.slice(0, 20),
    initialPassword: 'Initial-Passw0rd!', adGroup: 'CN=Staff,DC=example,DC=test', authifiRoles: '["staff"]',
  };
  for (const [variable, value] of Object.entries(inputs)) {
    await page.locator(`[id="field-variables.${variable}"]`).fill(value);
  }
  await page.locator('[id="field-useMocks"]').focus();
  await page.keyboard.press('Space');
  await press(page, 'start-run');
  await expect(page).toHaveURL(/\/runs\/[0-9a-f-]{36}$/);
  await expect(page.getByTestId('run-status')).toHaveText('completed', { timeout: 30_000 });
  for (const step of ['createFlohUser', 'createAccount', 'setPassword', 'addToGroup', 'createUser', 'assignRoles']) {
    await expect(page.getByTestId(`step-${step}`).getByTestId('step-status')).toHaveText('completed');
  }
});
