import { test, expect, uniqueSuffix } from './fixtures';
import { ldapFixtureURL } from '../playwright.config';

// An admin publishes a small workflow through the API with a token made on the profile page,
// starts it from its start form, and watches the run complete on its page.
test('a published workflow starts from its form and completes on the run page', async ({ page, loginAs, request }) => {
  await loginAs('demo-admin', '/profile');
  const tag = uniqueSuffix();
  await page.getByTestId('token-form').locator('#field-name').fill(`runs journey ${tag}`);
  await page.getByTestId('create-token').click();
  const token = (await page.getByTestId('new-token-value').textContent())!.trim();
  const auth = { Authorization: `Bearer ${token}` };

  // A delay connector, so a step calls a connector; its wait takes a moment, long enough to
  // see the run move.
  const conn = await request.post('/api/connectors', { headers: auth, data: { name: `Journey pause ${tag}`, type: 'delay' } });
  expect(conn.status(), await conn.text()).toBe(201);
  const connectorId = (await conn.json()).id as string;
  const name = `Journey ${tag}`;
  const created = await request.post('/api/workflows', {
    headers: auth,
    data: {
      name,
      variables: [
        { name: 'ticket', type: 'string', required: true, description: 'The service desk ticket' },
        { name: 'days', type: 'number', required: true },
      ],
      steps: [
        { id: 'start', name: 'Start', type: 'start' },
        { id: 'double', name: 'Double the days', type: 'transform', config: { set: { twice: 'days * 2' } } },
        { id: 'pause', name: 'Pause a moment', type: 'connector', config: { connectorId, command: 'wait', params: { duration: '2s' } } },
        { id: 'end', name: 'End', type: 'end' },
      ],
      edges: [
        { from: 'start', to: 'double', on: 'success' },
        { from: 'double', to: 'pause', on: 'success' },
        { from: 'pause', to: 'end', on: 'success' },
      ],
    },
  });
  expect(created.status(), await created.text()).toBe(201);
  const workflowId = (await created.json()).id as string;
  const published = await request.post(`/api/workflows/${workflowId}/publish`, { headers: auth });
  expect(published.status(), await published.text()).toBe(200);

  // From the workflow's page to its start form.
  await page.goto(`/workflows/${workflowId}`);
  await page.getByTestId('start-workflow').click();
  await expect(page).toHaveURL(new RegExp(`/workflows/${workflowId}/start$`));
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(`Start ${name}`);

  // A required field left empty comes back beside its field, with what was typed kept.
  await page.getByLabel('Ticket').fill('SD-4711');
  await page.getByTestId('start-run').click();
  await expect(page.getByTestId('error-summary')).toBeFocused();
  await expect(page.getByTestId('input-variables.days')).toContainText('Days is required.');
  await expect(page.getByLabel('Ticket')).toHaveValue('SD-4711');

  await page.getByLabel('Days').fill('21');
  await page.getByTestId('start-run').click();
  await expect(page).toHaveURL(/\/runs\/[0-9a-f-]{36}$/);
  await expect(page.getByTestId('flash')).toContainText(`Started ${name}`);
  await expect(page.getByTestId('run-workflow')).toHaveText(name);

  // The page follows the run by itself: no reload, and polling stops once it has finished.
  await expect(page.getByTestId('run-live')).toBeVisible();
  await expect(page.getByTestId('run-status')).toHaveText('completed', { timeout: 20_000 });
  await expect(page.getByTestId('run-live')).toHaveCount(0);
  for (const step of ['start', 'double', 'pause', 'end']) {
    await expect(page.getByTestId(`step-${step}`).getByTestId('step-status')).toHaveText('completed');
  }
  await page.locator('#run-variables summary').click();
  await expect(page.getByTestId('run-variables')).toContainText('"twice": 42');

  // The run list shows it too.
  await page.getByTestId('nav-runs').click();
  await page.getByTestId('filter-workflowId').selectOption(workflowId);
  const row = page.locator('[data-testid^="run-row-"]');
  await expect(row).toHaveCount(1);
  await expect(row.locator('.badge')).toHaveText('completed');
});

// The partial-provisioning runbook on a real directory: a run creates a Floh user and an
// account in the suite's slapd, sets its password, then fails to add it to a group the
// directory does not have. Its page diagnoses it, the rollback preview lists the undo steps,
// and confirming it deletes the account (which also undoes the password) and soft-deletes the
// user.
test('a run that fails midway is diagnosed on its page and rolled back after a preview', async ({ page, loginAs, request }) => {
  const dir = await (await request.get(ldapFixtureURL)).json();
  await loginAs('demo-admin', '/runs');
  const tag = uniqueSuffix();
  const username = `rb${tag}`;
  const email = `${username}@example.test`;
  const api = async (method: 'post' | 'get', url: string, data: object | undefined, status: number) => {
    const res = await page.request[method](url, { data });
    expect(res.status(), `${method} ${url}: ${await res.text()}`).toBe(status);
    return res.json();
  };
  const directory = `Staff directory ${tag}`;
  const connectorId = (
    await api('post', '/api/connectors', {
      name: directory,
      type: 'ldap',
      config: {
        url: dir.url, startTLS: true, caCert: dir.caCert, bindDN: dir.bindDN, bindPassword: dir.bindPassword,
        baseDN: dir.baseDN, userBaseDN: dir.userBaseDN, groupBaseDN: dir.groupBaseDN,
      },
    }, 201)
  ).id as string;
  const name = `Onboarding ${tag}`;
  const ldapStep = (id: string, stepName: string, command: string, params: object) =>
    ({ id, name: stepName, type: 'connector', config: { connectorId, command, params } });
  const workflowId = (
    await api('post', '/api/workflows', {
      name,
      variables: [],
      steps: [
        { id: 'start', name: 'Start', type: 'start' },
        { id: 'floh-user', name: 'Create the Floh user', type: 'user_create', config: { email, displayName: 'Rolled Back' } },
        ldapStep('account', 'Create the directory account', 'createAccount', { username, surname: 'Back', email }),
        ldapStep('password', 'Set the first password', 'setPassword', { username, password: 'Correct-Horse-9' }),
        ldapStep('group', 'Add to the staff group', 'addToGroup', { username, group: `no-such-group-${tag}` }),
        { id: 'end', name: 'End', type: 'end' },
      ],
      edges: [
        { from: 'start', to: 'floh-user', on: 'success' },
        { from: 'floh-user', to: 'account', on: 'success' },
        { from: 'account', to: 'password', on: 'success' },
        { from: 'password', to: 'group', on: 'success' },
        { from: 'group', to: 'end', on: 'success' },
      ],
    }, 201)
  ).id as string;
  await api('post', `/api/workflows/${workflowId}/publish`, undefined, 200);
  const runId = (await api('post', `/api/workflows/${workflowId}/start`, { variables: {} }, 201)).runId as string;
  const accountExists = async () =>
    (await api('post', `/api/connectors/${connectorId}/execute`, { command: 'checkAccountExists', params: { username } }, 200)).data.exists;

  // The run's page follows it until it fails, then shows the diagnosis. The account it
  // created is in the directory.
  await page.goto(`/runs/${runId}`);
  await expect(page.getByTestId('run-status')).toHaveText('failed', { timeout: 20_000 });
  expect(await accountExists()).toBe(true);
  const panel = page.getByTestId('diagnose');
  await expect(panel).toBeVisible();
  await page.getByTestId('diagnose-link').click();
  await expect(page).toHaveURL(new RegExp(`/runs/${runId}#diagnose$`));
  await expect(panel).toBeInViewport();
  // What failed and why: the step, its system, the error's class in words and its code.
  await expect(panel.getByTestId('diagnose-step')).toHaveText('Add to the staff group');
  await expect(panel.getByTestId('diagnose-system')).toContainText(directory);
  await expect(panel.getByTestId('diagnose-system')).toContainText('addToGroup');
  await expect(panel.getByTestId('error-class')).toHaveText('Not found');
  await expect(panel.getByTestId('error-code')).toHaveText('GROUP_NOT_FOUND');
  // What was already done, in order.
  await expect(panel.getByTestId('diagnose-done').locator(':scope > li')).toHaveText([
    /Create the Floh user.*user_create on Floh/s,
    new RegExp(`Create the directory account.*createAccount on ${directory}`, 's'),
    new RegExp(`Set the first password.*setPassword on ${directory}`, 's'),
  ]);
  // What to undo: deleting the account also undoes its password; then the Floh user.
  const undo = [
    new RegExp(`deleteAccount on ${directory}.*username=${username}.*also undoes setPassword`, 's'),
    new RegExp(`user_delete on Floh.*email=${email}`, 's'),
  ];
  await expect(panel.getByTestId('plan-item')).toHaveText(undo);

  // The preview lists exactly those undo steps and says what happens.
  await panel.getByTestId('rollback-run').click();
  await expect(page).toHaveURL(new RegExp(`/runs/${runId}/rollback$`));
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(`Roll back this run of ${name}?`);
  await expect(page.getByTestId('plan-item')).toHaveText(undo);
  await expect(page.getByTestId('rollback-consequences')).toContainText('Floh runs the 2 undo steps');
  // Nothing has happened yet.
  expect(await accountExists()).toBe(true);

  await page.getByTestId('confirm-button').click();
  await expect(page).toHaveURL(/\/runs\/[0-9a-f-]{36}$/);
  const rollbackId = page.url().split('/').pop()!;
  expect(rollbackId).not.toBe(runId);
  await expect(page.getByTestId('flash')).toContainText(`Started the rollback of run ${runId}`);
  await expect(page.getByTestId('run-workflow')).toHaveText(`Rollback of ${name}`);
  await expect(page.getByTestId('run-status')).toHaveText('completed', { timeout: 20_000 });
  for (const step of ['undo-1', 'undo-2']) {
    await expect(page.getByTestId(`step-${step}`).getByTestId('step-status')).toHaveText('completed');
  }
  expect(await accountExists()).toBe(false);
  const users = await api('get', `/api/users?email=${encodeURIComponent(email)}&includeDeleted=true`, undefined, 200);
  expect(users.items).toHaveLength(1);
  expect(users.items[0].deletedAt).toBeTruthy();

  // The two runs link to each other, and the original offers neither another rollback nor a retry.
  await page.getByRole('link', { name: runId }).click();
  await expect(page).toHaveURL(new RegExp(`/runs/${runId}$`));
  await expect(page.getByTestId('run-rolled-back-by')).toContainText(rollbackId);
  await expect(page.getByTestId('compensated-by')).toHaveText(rollbackId);
  await expect(page.getByTestId('rollback-run')).toHaveCount(0);
  await expect(page.getByTestId('retry-run')).toHaveCount(0);
});
