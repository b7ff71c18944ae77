import type { Locator, Page } from '@playwright/test';
import { test, expect } from './fixtures';

// The journey on the demo directory (serve.sh starts `floh serve --demo`): configure
// the sync, run a dry run and read its report, Sync now and watch the progress bar, link an
// ambiguous record, skip another, run again and see both decisions kept.

/** Opens the Demo directory connector's Sync tab from the connector list. */
async function openSyncTab(page: Page): Promise<void> {
  await page.goto('/connectors');
  await page.getByRole('link', { name: 'Demo directory', exact: true }).click();
  await page.getByTestId('tab-sync').click();
  await expect(page).toHaveURL(/\/connectors\/[0-9a-f-]{36}\/sync\/user$/);
  await expect(page.getByTestId('sync-subtab-user')).toHaveAttribute('aria-current', 'page');
}

/** Presses Sync now and waits for the run to finish; returns the status card. */
async function syncNow(page: Page, dryRun: boolean): Promise<Locator> {
  const card = page.getByTestId('sync-status');
  if (dryRun) {
    await page.getByTestId('sync-dry-run').check();
  }
  await page.getByTestId('sync-now').click();
  // While it moves the card shows the run's bar and phase, refreshing itself, and Sync now
  // says why it cannot start another.
  await expect(card.getByTestId('sync-progress')).toBeVisible();
  await expect(card.getByTestId('sync-phase')).not.toBeEmpty();
  await expect(page.getByTestId('sync-now-disabled')).toContainText('A sync is running');
  await expect(card.getByTestId('sync-progress')).toBeHidden({ timeout: 60_000 });
  await expect(card.getByTestId('sync-run-line')).toContainText('completed');
  await expect(page.getByTestId('sync-now')).toBeEnabled();
  return card;
}

/** The review filtered by a status (its value, e.g. "ambiguous"), once the list has come back. */
async function filterReview(page: Page, status: string): Promise<Locator> {
  await page.getByTestId('sync-review').getByTestId('sync-review-status').selectOption(status);
  await expect(page).toHaveURL(new RegExp(`[?&]status=${status}(&|$)`));
  await expect(page.getByTestId('sync-review').getByTestId('sync-review-status')).toHaveValue(status);
  return page.getByTestId('sync-review');
}

function exactly(text: string): RegExp {
  return new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
}

test('an admin configures the demo directory sync, reads a dry run, syncs, links and skips matches, and a second sync keeps both decisions', async ({ page, loginAs }) => {
  test.setTimeout(180_000);
  await loginAs('demo-admin', '/connectors');
  await openSyncTab(page);
  await expect(page.getByTestId('sync-status')).toContainText('Never synced');

  // Configure: a bad cron schedule comes back beside its field with all else kept; then a
  // schedule, a shorter retention and a mapping of the department into profiles.
  const form = page.getByTestId('sync-config-form');
  await form.getByLabel('Cron schedule (UTC)').fill('0 25 * * *');
  await form.getByLabel('Stale retention').fill('24h');
  await page.locator('#sync-enabled').check();
  await page.getByTestId('add-mapping').click();
  const mapping = page.getByTestId('mapping-0');
  await mapping.getByLabel('Source path').fill('attributes.ou');
  await mapping.getByLabel('Target field').selectOption('department');
  await page.getByTestId('save-sync-config').click();
  const summary = page.getByTestId('error-summary');
  await expect(summary).toContainText('Cron schedule must be five fields');
  await expect(summary).toBeFocused();
  await expect(page.getByTestId('input-cron')).toContainText('Cron schedule must be five fields');
  await expect(form.getByLabel('Stale retention')).toHaveValue('24h');
  await expect(page.getByTestId('mapping-0').getByLabel('Source path')).toHaveValue('attributes.ou');
  await page.getByTestId('sync-config-form').getByLabel('Cron schedule (UTC)').fill('0 2 * * *');
  await page.getByTestId('save-sync-config').click();
  await expect(page.getByTestId('sync-config-saved')).toContainText('Saved the sync configuration of users');
  await expect(page.getByTestId('sync-schedule')).toContainText('Scheduled: runs on 0 2 * * * (UTC)');

  // A dry run, and its report: it would add every person, keeping none of them.
  let card = await syncNow(page, true);
  await expect(card.getByTestId('sync-run-dry')).toBeVisible();
  const added = Number((await card.getByTestId('sync-stats-added').innerText()).replace(/,/g, ''));
  expect(added, 'the dry run would add the directory').toBeGreaterThan(1000);
  await expect(page.getByTestId('sync-resources')).toContainText('Nothing synced yet');
  await card.getByTestId('sync-status-run-link').click();
  const run = page.getByTestId('sync-run');
  await expect(run).toContainText('What this dry run would have changed');
  await expect(run.getByTestId('sync-change-row').first()).toBeVisible();
  await run.getByTestId('sync-changes-kind').selectOption('ambiguous');
  await expect(page).toHaveURL(/kind=ambiguous/);
  await expect(run.getByTestId('sync-change-row')).toHaveCount(1);
  await expect(run.getByTestId('sync-change-row')).toContainText('ambiguous');
  await run.getByTestId('sync-run-back').click();

  // Sync now: the bar while it reads, then the records and the review.
  card = await syncNow(page, false);
  await expect(card.getByTestId('sync-stats-added')).toHaveText(String(added).replace(/\B(?=(\d{3})+(?!\d))/g, ','));
  await expect(page.getByTestId('sync-resources-table')).toBeVisible();
  await expect(page.getByTestId('sync-history-row')).toHaveCount(2);

  // Link the ambiguous record to one of its two users, found by typing in the picker.
  let review = await filterReview(page, 'ambiguous');
  const ambiguous = review.getByTestId('match-row');
  await expect(ambiguous).toHaveCount(1);
  await expect(ambiguous.getByTestId('match-candidates').locator('li')).toHaveCount(2);
  const linkedName = (await ambiguous.locator('.match-record strong').innerText()).trim();
  const email = (await ambiguous.getByTestId('match-candidates').locator('li').nth(1).locator('.hint').innerText()).trim();
  await ambiguous.getByTestId('match-link').click();
  await ambiguous.getByTestId('picker-search').fill(email);
  // The two users' emails differ only in case: the search finds both, the admin picks one.
  const choice = ambiguous.getByTestId('picker-results').locator('li', { hasText: exactly(email) });
  await expect(choice).toHaveCount(1);
  await choice.getByTestId('picker-choose').click();
  await expect(page.getByTestId('sync-review-notice')).toContainText(`Linked ${linkedName} to`);
  await expect(page.getByTestId('sync-review-notice')).toContainText(email);
  await expect(page.getByTestId('sync-review').getByTestId('match-row')).toHaveCount(0);

  // Skip an unmatched one.
  review = await filterReview(page, 'unmatched');
  const unmatched = review.getByTestId('match-row').first();
  const skippedName = (await unmatched.locator('.match-record strong').innerText()).trim();
  await unmatched.getByTestId('match-skip').click();
  await expect(page.getByTestId('sync-review-notice')).toContainText(`Skipped ${skippedName}`);

  // Run again: both decisions are kept.
  await syncNow(page, false);
  await expect(page.getByTestId('sync-history-row')).toHaveCount(3);
  review = await filterReview(page, 'manual');
  await expect(review.getByTestId('match-row')).toHaveCount(1);
  await expect(review.getByTestId('match-row')).toContainText(linkedName);
  await expect(review.getByTestId('match-row')).toContainText(email);
  review = await filterReview(page, 'skipped');
  await expect(review.getByTestId('match-row')).toHaveCount(1);
  await expect(review.getByTestId('match-row')).toContainText(skippedName);
});
