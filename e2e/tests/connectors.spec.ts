import type { Locator, Page } from '@playwright/test';
import { test, expect, uniqueSuffix } from './fixtures';
import { ldapFixtureURL } from '../playwright.config';

/** A config input of the connector forms, by schema field name. */
function field(page: Page, name: string): Locator {
  return page.locator(`[id="field-config.${name}"]`);
}

/** The throwaway slapd that fixtures/ldap runs next to floh. */
type Directory = {
  url: string;
  ldapsUrl: string;
  caCert: string;
  baseDN: string;
  userBaseDN: string;
  bindDN: string;
  bindPassword: string;
};

test('an admin connects a real LDAP directory through the wizard, tests it, looks up an account, and sees a wrong password as unauthorized', async ({ page, loginAs, request }) => {
  const dir: Directory = await (await request.get(ldapFixtureURL)).json();
  const name = `Staff LDAP ${uniqueSuffix()}`;
  await loginAs('demo-admin', '/connectors');

  // Step 1: the type, from the cards.
  await page.getByTestId('new-connector').click();
  await expect(page).toHaveURL(/\/connectors\/new$/);
  await page.getByTestId('choose-ldap').click();

  // Step 2: name and description.
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Name your LDAP connector');
  await page.locator('#field-name').fill(name);
  await page.locator('#field-description').fill('The staff directory (e2e slapd)');
  await page.getByTestId('wizard-next').click();

  // Step 3: the settings form generated from the schema. A missing required field comes back
  // with an error summary and the message beside the field; what was typed is kept, except
  // the password, which is never written back into the page.
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Settings of your LDAP connector');
  await field(page, 'url').fill(dir.url);
  await field(page, 'bindPassword').fill(dir.bindPassword);
  await field(page, 'baseDN').fill(dir.baseDN);
  await page.getByTestId('wizard-next').click();
  const summary = page.locator('.error-summary');
  await expect(summary).toContainText('Bind DN is required');
  await expect(field(page, 'url')).toHaveValue(dir.url);
  await expect(field(page, 'bindPassword')).toHaveValue('');
  expect(await page.content(), 'the bind password is not in the page').not.toContain(dir.bindPassword);

  await field(page, 'bindDN').fill(dir.bindDN);
  await field(page, 'bindPassword').fill(dir.bindPassword);
  await field(page, 'userBaseDN').fill(dir.userBaseDN);
  await page.getByTestId('wizard-next').click();

  // Step 4: check your answers; the password shows only as "set".
  const review = page.getByTestId('review');
  await expect(review).toContainText(name);
  await expect(review).toContainText(dir.url);
  await expect(review).toContainText('set');
  expect(await page.content(), 'the review page holds only the sealed password').not.toContain(dir.bindPassword);
  await page.getByTestId('wizard-create').click();
  await expect(page).toHaveURL(/\/connectors\/[0-9a-f-]{36}/);
  await expect(page.getByTestId('connector-name')).toHaveText(name);
  const connectorURL = page.url().split('?')[0];

  // Test: binds to the directory and says so.
  await page.getByTestId('tab-test').click();
  await page.getByTestId('run-test').click();
  await expect(page.getByTestId('test-outcome')).toContainText(/succeeded|passed|success/i);
  await expect(page.getByTestId('test-duration')).toBeVisible();
  await expect(page.getByTestId('connector-health')).toContainText('healthy');

  // The console: checkAccountExists finds jdoe and not a stranger.
  await page.getByTestId('tab-commands').click();
  await page.getByTestId('command-checkAccountExists').click();
  // The command's form arrives by htmx: fill it once it is the one on the page, not before.
  await expect(page.getByRole('region', { name: /Check account exists/ })).toBeVisible();
  await page.locator('[id="field-param.username"]').fill('jdoe');
  await page.getByTestId('run-command').click();
  const result = page.getByTestId('console-result');
  await expect(result.getByTestId('result-outcome')).toContainText(/succeeded|success/i);
  await expect(result.getByTestId('result-data')).toContainText('"exists": true');
  await expect(result.getByTestId('result-data')).toContainText(`uid=jdoe,${dir.userBaseDN}`);

  // A wrong bind password, saved on the Configuration tab: the test reports it as refused
  // credentials (unauthorized), with what to do next.
  await page.goto(`${connectorURL}?tab=configuration`);
  await field(page, 'bindPassword').fill('not-the-password');
  await page.getByTestId('save-config').click();
  await expect(page.getByTestId('flash')).toBeVisible();
  await page.getByTestId('tab-test').click();
  await page.getByTestId('run-test').click();
  const failure = page.getByTestId('connector-error');
  await expect(failure.getByTestId('error-class')).toContainText(/credentials/i);
  await expect(failure.getByTestId('error-code')).toContainText(/unauthorized|49|INVALID_CREDENTIALS/i);
  await expect(failure.getByTestId('error-message')).toContainText(/bind|credentials|password/i);
  expect(await page.content()).not.toContain('not-the-password');
  await page.screenshot({ path: 'screenshots/connector-test-unauthorized.png', fullPage: true });
});
