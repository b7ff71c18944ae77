import { test, expect, uniqueSuffix } from './fixtures';

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
