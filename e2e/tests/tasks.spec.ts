import type { Page } from '@playwright/test';
import { test, expect, uniqueSuffix, signInAs, type Subject } from './fixtures';

// Approvals from end to end: a requestor starts a workflow from its form; its parallel
// approval names the approver and the manager, who each sign in through the development
// provider and approve from their Tasks page, and the run completes. A second run is rejected
// with a reason: it takes the rejected edge, and its page shows who rejected it and why.
test('two approvers approve from their inbox; a rejection with a reason routes the rejected edge', async ({ page, baseURL, loginAs }) => {
  test.setTimeout(150_000);
  const tag = uniqueSuffix();
  const name = `Access request ${tag}`;

  // The admin publishes the workflow through the API, on their browser session.
  await loginAs('demo-admin', '/workflows');
  const api = async (url: string, data: object | undefined, status: number) => {
    const res = await page.request.post(url, { data });
    expect(res.status(), `${url}: ${await res.text()}`).toBe(status);
    return res.json();
  };
  const workflowId = (
    await api('/api/workflows', {
      name,
      variables: [{ name: 'system', type: 'string', required: true, description: 'The system to get access to' }],
      steps: [
        { id: 'start', name: 'Start', type: 'start' },
        {
          id: 'approve',
          name: `Approve access ${tag}`,
          type: 'approval',
          config: { approvers: ['approver@example.test', 'manager@example.test'], mode: 'parallel', timeout: '72h' },
        },
        { id: 'regret', name: 'Note the rejection', type: 'transform', config: { set: { rejected: 'true' } } },
        { id: 'end', name: 'End', type: 'end' },
      ],
      edges: [
        { from: 'start', to: 'approve', on: 'success' },
        { from: 'approve', to: 'end', on: 'success' },
        { from: 'approve', to: 'regret', on: 'rejected' },
        { from: 'regret', to: 'end', on: 'success' },
      ],
    }, 201)
  ).id as string;
  await api(`/api/workflows/${workflowId}/publish`, undefined, 200);

  const switchTo = async (subject: Subject, path: string) => {
    await page.getByTestId('logout').click();
    await expect(page).toHaveURL(/\/signed-out$/);
    await signInAs(page, baseURL!, subject, path);
  };
  // The requestor starts a run from the workflow's form and lands on its page.
  const startRun = async (system: string): Promise<string> => {
    await switchTo('demo-requestor', `/workflows/${workflowId}/start`);
    await page.getByRole('textbox', { name: /^System/ }).fill(system);
    await page.getByTestId('start-run').click();
    await expect(page).toHaveURL(/\/runs\/[0-9a-f-]{36}$/);
    await expect(page.getByTestId('run-status')).toHaveText('waiting', { timeout: 20_000 });
    const people = page.getByTestId('step-approve').getByTestId('step-people');
    await expect(people).toHaveText('Waiting for approval by approver@example.test and manager@example.test: every approver must approve.');
    // The requestor cannot decide: the step does not send them to the Tasks page.
    await expect(page.getByTestId('step-act')).toHaveCount(0);
    return page.url().split('/').pop()!;
  };
  // A run's card on the approvals tab: the one whose workflow links to the run.
  const cardOf = (p: Page, runId: string) =>
    p.getByTestId('task-card').filter({ has: p.locator(`a[href="/runs/${runId}"]`) });

  const first = await startRun('finance share');

  // The approver finds it on the approvals tab, counted in the header, and approves it in place.
  await switchTo('demo-approver', '/');
  // Other journeys may have left tasks for the approver: the count is at least this one.
  const count = page.getByTestId('nav-tasks-count');
  await expect(count).toHaveText(/^[1-9]\d*$/);
  const before = Number(await count.textContent());
  await page.getByTestId('nav-tasks').click();
  await page.getByTestId('tab-approvals').click();
  await expect(page).toHaveURL(/\/tasks\?tab=approvals$/);
  let card = cardOf(page, first);
  await expect(card.getByTestId('task-requested-by')).toHaveText('requestor@example.test');
  await expect(card.getByTestId('task-holder')).toHaveText('You');
  await expect(card.getByTestId('task-slot')).toContainText('Approver 1 of 2: all must approve');
  await card.getByRole('button', { name: 'Approve' }).click();
  await expect(card.getByTestId('task-status')).toHaveText('approved');
  await expect(card.getByTestId('task-notice')).toBeFocused();
  await expect(card.getByTestId('task-notice')).toHaveText(`Approved “Approve access ${tag}”.`);
  if (before === 1) await expect(count).toHaveCount(0);
  else await expect(count).toHaveText(String(before - 1));
  await expect(card.getByRole('button', { name: 'Approve' })).toHaveCount(0);

  // The manager approves too, and follows the card's link to the run, which completes.
  await switchTo('demo-manager', '/tasks?tab=approvals');
  card = cardOf(page, first);
  await expect(card.getByTestId('task-slot')).toContainText('Approver 2 of 2');
  await card.getByRole('button', { name: 'Approve' }).click();
  await expect(card.getByTestId('task-status')).toHaveText('approved');
  await card.getByTestId('task-run-link').click();
  await expect(page).toHaveURL(new RegExp(`/runs/${first}$`));
  await expect(page.getByTestId('run-status')).toHaveText('completed', { timeout: 20_000 });
  await expect(page.getByTestId('step-approve').getByTestId('step-people')).toHaveText(
    'Approved by approver@example.test and manager@example.test.',
  );
  await expect(page.getByTestId('step-regret')).toHaveCount(0);

  // The second run is rejected. A rejection needs a reason: without one the field says so,
  // in place, and nothing is decided.
  const second = await startRun('payroll');
  await switchTo('demo-approver', '/tasks?tab=approvals');
  card = cardOf(page, second);
  await card.getByText('Reject…').click();
  await card.getByTestId('task-reject-submit').click();
  await expect(card.getByTestId('error-summary')).toBeFocused();
  const reason = card.getByRole('textbox', { name: 'Why do you reject it?' });
  await expect(reason).toHaveAttribute('aria-invalid', 'true');
  await expect(card).toContainText('The reason is required');
  await expect(card.getByTestId('task-status')).toHaveText('open');
  // The summary's link leads to the field.
  await card.getByTestId('error-summary').getByRole('link').click();
  await expect(reason).toBeFocused();
  await reason.fill('Payroll access needs a signed form from HR');
  await card.getByTestId('task-reject-submit').click();
  await expect(card.getByTestId('task-status')).toHaveText('rejected');
  await expect(card.getByTestId('task-decision')).toContainText('Rejected by approver@example.test');
  await expect(card.getByTestId('task-decision')).toContainText('Payroll access needs a signed form from HR');

  // The run takes the rejected edge, and its page says who rejected it and why.
  await card.getByTestId('task-run-link').click();
  await expect(page.getByTestId('run-status')).toHaveText('completed', { timeout: 20_000 });
  await expect(page.getByTestId('step-regret').getByTestId('step-status')).toHaveText('completed');
  await expect(page.getByTestId('step-approve').getByTestId('step-people')).toHaveText(
    'Rejected by approver@example.test: “Payroll access needs a signed form from HR”',
  );

  // The manager's part of it ended with the rejection: it left their list, and shows among
  // the recently decided as no longer needed.
  await switchTo('demo-manager', '/tasks?tab=approvals');
  await expect(cardOf(page, second)).toHaveCount(0);
  await page.getByLabel('Status').selectOption('decided');
  await expect(page).toHaveURL(/status=decided/);
  await expect(cardOf(page, second).getByTestId('task-status')).toHaveText('cancelled');
  await expect(cardOf(page, second).getByTestId('task-decision')).toContainText('No longer needed');
});
