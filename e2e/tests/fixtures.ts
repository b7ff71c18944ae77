import { test as base, expect, type Page, type ConsoleMessage } from '@playwright/test';

/** The development provider's demo users, by OIDC subject. */
export const demoUsers = {
  'demo-admin': { email: 'admin@example.test', name: 'Ada Admin', role: 'Admin' },
  'demo-manager': { email: 'manager@example.test', name: 'Max Manager', role: 'Resource Manager' },
  'demo-approver': { email: 'approver@example.test', name: 'Alex Approver', role: 'Approver' },
  'demo-requestor': { email: 'requestor@example.test', name: 'Riley Requestor', role: 'Requestor' },
} as const;
export type Subject = keyof typeof demoUsers;

/** The development provider's sign-in page (a pending authorization request). */
export const signInPageURL = /\/dev\/oidc\/login\?id=/;

/** A string no other test (or earlier run) uses: tests make their own data. */
export function uniqueSuffix(): string {
  return `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
}

export function uniqueEmail(tag: string): string {
  return `e2e-${tag}-${uniqueSuffix()}@example.test`;
}

/**
 * Signs in through the development provider the way a person does: open `path` anonymously,
 * get sent to the provider's sign-in page, pick the user, and land back on `path`.
 */
export async function signInAs(page: Page, baseURL: string, subject: Subject, path = '/'): Promise<void> {
  await page.goto(path);
  await expect(page, 'an anonymous visit goes to the sign-in page').toHaveURL(signInPageURL);
  await page.getByTestId(`devoidc-user-${subject}`).click();
  await expect(page, `after sign-in the browser is back on ${path}`).toHaveURL(new URL(path, baseURL).toString());
  await expect(page.getByTestId('nav-profile')).toHaveText(demoUsers[subject].name);
}

/** Adds a user through the "Add user" form; returns the new user's id (from the URL). */
export async function addUserInUI(
  page: Page,
  user: { email: string; displayName: string; roles?: string[] },
): Promise<string> {
  await page.goto('/users');
  await page.getByTestId('new-user').click();
  await expect(page).toHaveURL(/\/users\/new$/);
  const form = page.getByTestId('user-form');
  await form.getByLabel('Email address').fill(user.email);
  await form.getByLabel('Display name').fill(user.displayName);
  for (const role of user.roles ?? []) {
    await form.locator(`input[name="roles"][value="${role}"]`).check();
  }
  await page.getByTestId('save-user').click();
  await expect(page).toHaveURL(/\/users\/[0-9a-f-]{36}$/);
  await expect(page.getByTestId('flash')).toContainText(`Added ${user.email}`);
  await expect(page.getByTestId('user-name')).toHaveText(user.displayName);
  return page.url().split('/').pop()!;
}

type Fixtures = {
  /** Signs the test's page in as a demo user, starting from (and returning to) `path`. */
  loginAs: (subject: Subject, path?: string) => Promise<void>;
  /** Fails the test on script errors and CSP violations in the page (auto). */
  consoleGuard: void;
};

// Responses the tests provoke on purpose; Chromium logs each as a console error.
const expectedConsole = /Failed to load resource: the server responded with a status of (400|401|403|404|422)/;

export const test = base.extend<Fixtures>({
  loginAs: async ({ page, baseURL }, use) => {
    await use((subject, path = '/') => signInAs(page, baseURL!, subject, path));
  },
  consoleGuard: [
    async ({ page }, use, testInfo) => {
      const problems: string[] = [];
      page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
      page.on('console', (msg: ConsoleMessage) => {
        if (msg.type() === 'error' && !expectedConsole.test(msg.text())) {
          problems.push(`console error on ${page.url()}: ${msg.text()}`);
        }
      });
      await use();
      if (problems.length > 0) {
        await testInfo.attach('browser-console-errors', { body: problems.join('\n'), contentType: 'text/plain' });
      }
      expect(problems, 'no script errors or CSP violations in the browser console').toEqual([]);
    },
    { auto: true },
  ],
});

export { expect };
