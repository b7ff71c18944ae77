import fs from 'node:fs';
import path from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import type { Page } from '@playwright/test';
import { test, expect, signInPageURL, uniqueEmail, uniqueSuffix } from './fixtures';
import { ldapFixtureURL } from '../playwright.config';

// Every page a person reaches today, scanned with axe-core at 1280×800, and photographed at
// 1280×800 and 390×844 into e2e/screenshots/ for a human look.
// A serious or critical violation of a WCAG 2.0 A/AA rule (tags wcag2a, wcag2aa) fails the test;
// everything else is printed: moderate and minor WCAG 2.0 findings, the WCAG 2.1/2.2 and
// best-practice rules, and the scan at phone size. No page may scroll sideways as a whole.

const desktop = { width: 1280, height: 800 };
const phone = { width: 390, height: 844 };
const shotsDir = path.join(__dirname, '..', 'screenshots');
const failingImpacts = new Set(['serious', 'critical']);
const gatingTags = ['wcag2a', 'wcag2aa'];
const infoTags = ['wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice'];

// A trace of over a hundred page loads with full-page screenshots is large and slow; the PNGs say enough.
test.use({ trace: 'off' });

type Finding = {
  page: string;
  url: string;
  size: string;
  id: string;
  impact: string;
  /** true when the rule is one of WCAG 2.0 A/AA (the ones that can fail the test). */
  wcag20: boolean;
  help: string;
  targets: string[];
};

type Stop = {
  name: string;
  /** Brings the page on screen; runs once per viewport, so it must work twice. */
  open: (page: Page) => Promise<unknown>;
  /** Something that proves the page is the one meant, checked before the scan. */
  ready: (page: Page) => Promise<void>;
};

async function scan(page: Page, stop: Stop, size: string): Promise<Finding[]> {
  const results = await new AxeBuilder({ page }).withTags([...gatingTags, ...infoTags]).analyze();
  return results.violations.map((v) => ({
    page: stop.name,
    url: new URL(page.url()).pathname + new URL(page.url()).search,
    size,
    id: v.id,
    impact: v.impact ?? 'unknown',
    wcag20: v.tags.some((t) => gatingTags.includes(t)),
    help: v.help,
    targets: v.nodes.map((n) => n.target.join(' ')),
  }));
}

function describe(f: Finding): string {
  const more = f.targets.length > 4 ? ` (+${f.targets.length - 4} more)` : '';
  const kind = f.wcag20 ? 'WCAG 2.0' : 'info';
  return `  [${f.impact}, ${kind}] ${f.id}: ${f.help}\n      on ${f.targets.slice(0, 4).join(' | ')}${more}`;
}

test('every page passes axe (no serious/critical) and is photographed at desktop and phone size', async ({
  page,
  baseURL,
}, testInfo) => {
  test.setTimeout(480_000);
  fs.mkdirSync(shotsDir, { recursive: true });

  // Data for the user pages: one live user with a profile, one deleted user.
  const liveEmail = uniqueEmail('a11y-live');
  const deletedEmail = uniqueEmail('a11y-deleted');
  let liveId = '';
  let deletedId = '';

  // Data for the connector pages: a delay, an Authifi that cannot be reached (tested twice,
  // so it is down with an incident), an email relay in mock mode whose send answers with an
  // error, and a deleted connector. Names are unique to this run.
  const tag = uniqueSuffix().slice(-5);
  const cx = { pause: '', authifi: '', mail: '', deleted: '' };
  const setUpConnectors = async (p: Page) => {
    const create = async (data: object) => {
      const res = await p.request.post('/api/connectors', { data });
      expect(res.status(), await res.text()).toBe(201);
      return (await res.json()).id as string;
    };
    cx.pause = await create({ name: `Pause ${tag}`, type: 'delay', description: 'Waits for the directory to replicate between two steps.' });
    cx.authifi = await create({
      name: `Authifi production ${tag}`,
      type: 'authifi',
      description: 'Users, roles and groups of the production tenant. Owner: IAM team.',
      config: { baseUrl: 'http://127.0.0.1:9/_api', tenant: 'prod', tenantId: '42', clientId: 'floh-provisioning', clientSecret: 'e2e-client-secret' },
      mockData: {
        listUsers: {
          outputs: {
            records: [
              { externalId: 'u-1001', email: 'jane.doe@example.com', displayName: 'Jane Doe', attributes: { enabled: true } },
              { externalId: 'u-1002', email: 'richard.roe@example.com', displayName: 'Richard Roe', attributes: { enabled: false } },
            ],
            count: 2,
            nextCursor: '',
          },
        },
      },
    });
    for (let i = 0; i < 2; i++) {
      expect((await p.request.post(`/api/connectors/${cx.authifi}/test`)).status()).toBe(200);
    }
    cx.mail = await create({
      name: `Mail relay ${tag}`,
      type: 'email',
      config: { smtpUrl: 'smtp://floh:relay-password@mail.example.test:587?from=floh@example.test' },
      mockMode: true,
      mockData: { send: { error: { class: 'unauthorized', code: '535', message: 'the relay refused the credentials of floh (535 5.7.8)' } } },
    });
    cx.deleted = await create({ name: `Old relay ${tag}`, type: 'delay' });
    expect((await p.request.delete(`/api/connectors/${cx.deleted}`)).status()).toBe(200);
  };
  // Data for the Sync tab: a connector to the e2e slapd, synced once, whose one person (jdoe)
  // two Floh users could be (their emails differ only in case): an ambiguous match. And the
  // incident of the Authifi connector that tests left down.
  const sx = { dir: '', run: '', ambiguous: '', incident: '' };
  const setUpSync = async (p: Page) => {
    const ldap = await (await p.request.get(ldapFixtureURL)).json();
    const dir = await p.request.post('/api/connectors', {
      data: {
        name: `Staff directory ${tag}`, type: 'ldap',
        config: { url: ldap.url, startTLS: true, caCert: ldap.caCert, bindDN: ldap.bindDN, bindPassword: ldap.bindPassword,
          baseDN: ldap.baseDN, userBaseDN: ldap.userBaseDN, groupBaseDN: ldap.groupBaseDN },
      },
    });
    expect(dir.status(), await dir.text()).toBe(201);
    sx.dir = (await dir.json()).id;
    for (const [email, displayName] of [['JDOE@example.test', 'Jane Doe (HR)'], ['jdoe@Example.test', 'Jane Doe (Finance)']]) {
      expect((await p.request.post('/api/users', { data: { email, displayName } })).status()).toBe(201);
    }
    const run = await p.request.post(`/api/connectors/${sx.dir}/sync/user/run`, { data: {} });
    expect(run.status(), await run.text()).toBe(202);
    sx.run = (await run.json()).runId;
    await expect.poll(async () => (await (await p.request.get(`/api/sync-runs/${sx.run}`)).json()).status, { timeout: 30_000 }).toBe('completed');
    const matches = await (await p.request.get(`/api/connectors/${sx.dir}/sync/user/matches?status=ambiguous`)).json();
    sx.ambiguous = matches.items[0].resourceId;
    const incidents = await (await p.request.get('/api/incidents?status=open')).json();
    sx.incident = incidents.items.find((i: { subject: { id: string } }) => i.subject.id === cx.authifi).id;
  };
  // Data for the workflow pages: a draft with lint errors, an active workflow with two
  // versions and an open draft, and a deprecated one.
  const wfx = { draft: '', active: '', deprecated: '' };
  const setUpWorkflows = async (p: Page) => {
    const ok = async (res: Awaited<ReturnType<typeof p.request.post>>, status: number) => {
      expect(res.status(), await res.text()).toBe(status);
      return res.json();
    };
    const start = { id: 'start', name: 'Start', type: 'start' };
    const end = { id: 'end', name: 'End', type: 'end' };
    const tellIT = {
      id: 'tell-it',
      name: 'Tell IT',
      type: 'notification',
      config: { channel: 'in_app', to: ['role:Admin'], subject: 'Leaver {{email}}', body: 'Remove the desk phone of {{email}}.' },
    };
    wfx.draft = (
      await ok(
        await p.request.post('/api/workflows', {
          data: {
            name: `Onboarding ${tag}`,
            description: 'Creates the directory account of a new joiner, asks their manager, then tells IT.',
            category: 'Joiners',
            subjectVariable: 'targetUser',
            variables: [
              { name: 'targetUser', type: 'user', required: true, description: 'The new joiner' },
              { name: 'startDate', type: 'string', description: 'First working day, YYYY-MM-DD' },
            ],
            steps: [
              start,
              {
                id: 'create-account',
                name: 'Create the directory account',
                type: 'connector',
                config: {
                  connectorId: 'Active Directory (prod)',
                  command: 'createAccount',
                  params: { email: '{{targetUser.email}}', displayName: '{{targetUser.displayName}}' },
                  output: 'adAccount',
                  retry: { maxAttempts: 3, backoff: 'exponential' },
                },
              },
              { id: 'wait', name: 'Wait for replication', type: 'delay', config: { duration: '10m' } },
              {
                id: 'manager-approval',
                name: 'Manager approves access',
                type: 'approval',
                config: { approvers: ['{{manager.id}}', 'role:Approver'], mode: 'sequential', timeout: '72h' },
              },
              { ...tellIT, config: { ...tellIT.config, subject: 'New joiner {{targetUser.displayName}}', body: 'Account {{adAccount.id}} is ready.' } },
              end,
            ],
            edges: [
              { from: 'start', to: 'create-account', on: 'success' },
              { from: 'create-account', to: 'wait', on: 'success' },
              { from: 'create-account', to: 'tell-it', on: 'error' },
              { from: 'wait', to: 'manager-approval', on: 'success' },
              { from: 'manager-approval', to: 'tell-it', on: 'success' },
              { from: 'manager-approval', to: 'regret', on: 'rejected' },
              { from: 'tell-it', to: 'end', on: 'success' },
            ],
          },
        }),
        201,
      )
    ).id;
    const simple = (name: string, steps: object[], edges: object[]) => ({
      name,
      description: 'Closes the accounts of a leaver.',
      category: 'Leavers',
      variables: [{ name: 'email', type: 'string', required: true }],
      steps,
      edges,
    });
    const v1 = simple(`Offboarding ${tag}`, [start, end], [{ from: 'start', to: 'end', on: 'success' }]);
    const v2 = simple(`Offboarding ${tag}`, [start, tellIT, end], [
      { from: 'start', to: 'tell-it', on: 'success' },
      { from: 'tell-it', to: 'end', on: 'success' },
    ]);
    const draft = {
      ...v2,
      errorStrategy: 'continue',
      steps: [start, { id: 'wait', name: 'Wait a day', type: 'delay', config: { duration: '24h' } }, { ...tellIT, name: 'Tell IT and HR' }, end],
      edges: [
        { from: 'start', to: 'wait', on: 'success' },
        { from: 'wait', to: 'tell-it', on: 'success' },
        { from: 'tell-it', to: 'end', on: 'success' },
      ],
    };
    wfx.active = (await ok(await p.request.post('/api/workflows', { data: v1 }), 201)).id;
    await ok(await p.request.post(`/api/workflows/${wfx.active}/publish`), 200);
    await ok(await p.request.post(`/api/workflows/${wfx.active}/draft`, { data: { fromVersion: 1 } }), 201);
    await ok(await p.request.put(`/api/workflows/${wfx.active}`, { data: v2 }), 200);
    await ok(await p.request.post(`/api/workflows/${wfx.active}/publish`), 200);
    await ok(await p.request.post(`/api/workflows/${wfx.active}/draft`, { data: { fromVersion: 2 } }), 201);
    await ok(await p.request.put(`/api/workflows/${wfx.active}`, { data: draft }), 200);
    wfx.deprecated = (await ok(await p.request.post('/api/workflows', { data: simple(`Old access request ${tag}`, [start, end], v1.edges) }), 201)).id;
    await ok(await p.request.post(`/api/workflows/${wfx.deprecated}/publish`), 200);
    await ok(await p.request.post(`/api/workflows/${wfx.deprecated}/deprecate`), 200);
  };
  // Data for the run pages: a completed run, a run that failed on the mail relay's mock error
  // (its subject is the live user, so their page shows it), and one waiting in a delay.
  // Two runs of a partial onboarding on a mock directory that fail with something to undo
  // (one of them rolled back, leaving a password reset for an admin to undo by hand).
  // For the Tasks page: an approval waiting for the admin (then the approver, in order), one
  // for any Approver, and two manual tasks for the Admin role, one of them on hold.
  const rx = { welcome: '', completed: '', failed: '', waiting: '', partial: '', rollback: '', approval: '', serverAccess: '' };
  const setUpRuns = async (p: Page) => {
    const post = async (url: string, data: object | undefined, status: number) => {
      const res = await p.request.post(url, { data });
      expect(res.status(), await res.text()).toBe(status);
      return res.json();
    };
    const publish = async (doc: object) => {
      const id = (await post('/api/workflows', doc, 201)).id as string;
      await post(`/api/workflows/${id}/publish`, undefined, 200);
      return id;
    };
    const start = (id: string, variables: object) => post(`/api/workflows/${id}/start`, { variables }, 201).then((r) => r.runId as string);
    const until = async (runId: string, status: string) => {
      await expect.poll(async () => (await (await p.request.get(`/api/runs/${runId}`)).json()).status, { timeout: 20_000 }).toBe(status);
    };
    rx.welcome = await publish({
      name: `Welcome mail ${tag}`,
      description: 'Mails a new joiner their first-day instructions.',
      subjectVariable: 'manager',
      variables: [
        { name: 'email', type: 'string', required: true, description: 'Where the mail goes' },
        { name: 'manager', type: 'user', required: true, description: 'Who the new joiner reports to' },
        { name: 'firstDay', type: 'number', description: 'Days from today' },
        { name: 'copyManager', type: 'boolean', description: 'Send the manager a copy' },
        { name: 'extras', type: 'object', description: 'More fields for the mail template' },
      ],
      steps: [
        { id: 'start', name: 'Start', type: 'start' },
        {
          id: 'send-welcome',
          name: 'Send the welcome mail',
          type: 'connector',
          config: { connectorId: cx.mail, command: 'send', params: { to: ['{{email}}'], subject: 'Welcome', body: 'See you on your first day.' } },
        },
        { id: 'end', name: 'End', type: 'end' },
      ],
      edges: [
        { from: 'start', to: 'send-welcome', on: 'success' },
        { from: 'send-welcome', to: 'end', on: 'success' },
      ],
    });
    const waiter = await publish({
      name: `Wait for replication ${tag}`,
      variables: [],
      steps: [
        { id: 'start', name: 'Start', type: 'start' },
        { id: 'wait', name: 'Wait an hour', type: 'delay', config: { duration: '1h' } },
        { id: 'end', name: 'End', type: 'end' },
      ],
      edges: [
        { from: 'start', to: 'wait', on: 'success' },
        { from: 'wait', to: 'end', on: 'success' },
      ],
    });
    const checks = await publish({
      name: `Account checks ${tag}`,
      variables: [{ name: 'email', type: 'string', required: true }],
      steps: [
        { id: 'start', name: 'Start', type: 'start' },
        { id: 'normalise', name: 'Normalise the address', type: 'transform', config: { set: { mailbox: 'lower(email)' } } },
        { id: 'pause', name: 'Let the directory replicate', type: 'connector', config: { connectorId: cx.pause, command: 'wait', params: { duration: '0s' }, output: 'paused' } },
        { id: 'end', name: 'End', type: 'end' },
      ],
      edges: [
        { from: 'start', to: 'normalise', on: 'success' },
        { from: 'normalise', to: 'pause', on: 'success' },
        { from: 'pause', to: 'end', on: 'success' },
      ],
    });
    const directory = (
      await post('/api/connectors', {
        name: `Directory (mock) ${tag}`,
        type: 'ldap',
        mockMode: true,
        config: { url: 'ldap://127.0.0.1:9', bindDN: 'cn=floh,dc=example,dc=test', bindPassword: 'bind-secret', baseDN: 'dc=example,dc=test' },
        mockData: { addToGroup: { error: { class: 'not_found', code: 'GROUP_NOT_FOUND', message: 'no group named staff in the directory' } } },
      }, 201)
    ).id as string;
    const ldapStep = (id: string, name: string, command: string, params: object) =>
      ({ id, name, type: 'connector', config: { connectorId: directory, command, params } });
    const partial = await publish({
      name: `Partial onboarding ${tag}`,
      variables: [{ name: 'username', type: 'string', required: true }],
      steps: [
        { id: 'start', name: 'Start', type: 'start' },
        { id: 'floh-user', name: 'Create the Floh user', type: 'user_create', config: { email: '{{username}}@example.com', displayName: 'New Joiner' } },
        ldapStep('account', 'Create the directory account', 'createAccount', { username: '{{username}}', surname: 'Joiner' }),
        ldapStep('buddy', 'Reset the buddy account password', 'setPassword', { username: 'buddy', password: 'Buddy-Horse-9' }),
        ldapStep('group', 'Add to the staff group', 'addToGroup', { username: '{{username}}', group: 'staff' }),
        { id: 'end', name: 'End', type: 'end' },
      ],
      edges: [
        { from: 'start', to: 'floh-user', on: 'success' },
        { from: 'floh-user', to: 'account', on: 'success' },
        { from: 'account', to: 'buddy', on: 'success' },
        { from: 'buddy', to: 'group', on: 'success' },
        { from: 'group', to: 'end', on: 'success' },
      ],
    });
    rx.completed = await start(checks, { email: 'Leaver@Example.com' });
    rx.failed = await start(rx.welcome, { email: 'new.joiner@example.com', manager: liveId, extras: { desk: '4.12' } });
    rx.waiting = await start(waiter, {});
    rx.partial = await start(partial, { username: `joiner${tag}` });
    const undone = await start(partial, { username: `leaver${tag}` });
    await until(rx.completed, 'completed');
    await until(rx.failed, 'failed');
    await until(rx.partial, 'failed');
    await until(undone, 'failed');
    rx.rollback = (await post(`/api/runs/${undone}/rollback`, undefined, 201)).runId as string;
    await until(rx.rollback, 'completed');

    const approval = (name: string, approvers: string[], mode: string) => publish({
      name,
      subjectVariable: 'member',
      variables: [{ name: 'member', type: 'user', required: true, description: 'Who gets the access' }],
      steps: [
        { id: 'start', name: 'Start', type: 'start' },
        { id: 'approve', name: 'Approve access to the finance share', type: 'approval', config: { approvers, mode, timeout: '72h' } },
        { id: 'end', name: 'End', type: 'end' },
      ],
      edges: [
        { from: 'start', to: 'approve', on: 'success' },
        { from: 'approve', to: 'end', on: 'success' },
        { from: 'approve', to: 'end', on: 'rejected' },
      ],
    });
    const phone = await publish({
      name: `Desk phone ${tag}`,
      variables: [{ name: 'email', type: 'string', required: true }],
      steps: [
        { id: 'start', name: 'Start', type: 'start' },
        {
          id: 'phone',
          name: 'Set up the desk phone',
          type: 'manual_task',
          config: {
            assignee: 'role:Admin',
            title: 'Set up a desk phone for {{email}}',
            instructions: 'Create an extension for {{email}} in the Berlin PBX, then note its number in the comment.',
          },
        },
        { id: 'end', name: 'End', type: 'end' },
      ],
      edges: [
        { from: 'start', to: 'phone', on: 'success' },
        { from: 'phone', to: 'end', on: 'success' },
      ],
    });
    rx.approval = await start(await approval(`Access request ${tag}`, ['admin@example.test', 'approver@example.test'], 'sequential'), { member: liveId });
    rx.serverAccess = await start(await approval(`Server access ${tag}`, ['role:Approver'], 'single'), { member: liveId });
    const phones = [await start(phone, { email: 'jane.doe@example.com' }), await start(phone, { email: 'richard.roe@example.com' })];
    for (const id of [rx.approval, rx.serverAccess, ...phones]) await until(id, 'waiting');
    const held = (await (await p.request.get(`/api/tasks?runId=${phones[1]}`)).json()).items[0].id as string;
    await post(`/api/tasks/${held}/hold`, { reason: 'Waiting for the PBX licence from purchasing' }, 200);
  };
  const field = (p: Page, name: string) => p.locator(`[name="${name}"]`);
  const wizardToConfig = async (p: Page) => {
    await p.goto('/connectors/new?type=authifi');
    await field(p, 'name').fill(`Authifi staging ${tag}`);
    await field(p, 'description').fill('The staging tenant, for trying workflows.');
    await p.getByTestId('wizard-next').click();
    await expect(field(p, 'config.baseUrl')).toBeVisible();
  };
  const fillAuthifi = async (p: Page, baseUrl: string) => {
    await field(p, 'config.baseUrl').fill(baseUrl);
    await field(p, 'config.tenant').fill('staging');
    await field(p, 'config.tenantId').fill('7');
    await field(p, 'config.clientId').fill('floh-staging');
    await field(p, 'config.clientSecret').fill('staging-secret-value');
    await p.getByTestId('wizard-next').click();
  };

  const h1 = (text: string | RegExp) => async (p: Page) => {
    await expect(p.getByRole('heading', { level: 1 })).toHaveText(text);
  };

  const stops: Stop[] = [
    {
      name: 'devoidc-sign-in',
      open: (p) => p.goto('/'),
      ready: async (p) => {
        await expect(p).toHaveURL(signInPageURL);
        await expect(p.getByTestId('devoidc-user-demo-admin')).toBeVisible();
      },
    },
    {
      name: 'devoidc-unknown-request',
      open: (p) => p.goto('/dev/oidc/login?id=no-such-request'),
      ready: h1('Sign-in request not found'),
    },
    {
      name: 'dashboard',
      open: async (p) => {
        await p.goto('/');
        if (signInPageURL.test(p.url())) {
          await p.getByTestId('devoidc-user-demo-admin').click();
          await expect(p).toHaveURL(`${baseURL}/`);
        }
        // Set up the data of the user pages once, through the API with the admin's session.
        if (!liveId) {
          const live = await p.request.post('/api/users', {
            data: { email: liveEmail, displayName: 'Lena Longname-Livingston', roles: ['Requestor', 'Approver'] },
          });
          expect(live.status()).toBe(201);
          liveId = (await live.json()).id;
          const prof = await p.request.patch(`/api/users/${liveId}/profile`, {
            data: { title: 'Senior Identity Engineer', department: 'IT Operations', location: 'Berlin', costCenter: 'CC-4711', startDate: '2024-03-01' },
          });
          expect(prof.status()).toBe(200);
          const del = await p.request.post('/api/users', { data: { email: deletedEmail, displayName: 'Dieter Deleted' } });
          expect(del.status()).toBe(201);
          deletedId = (await del.json()).id;
          expect((await p.request.delete(`/api/users/${deletedId}`)).status()).toBe(200);
          await setUpConnectors(p);
          await setUpSync(p);
          await setUpWorkflows(p);
          await setUpRuns(p);
        }
      },
      ready: h1(/^Hello, Ada/),
    },
    { name: 'users', open: (p) => p.goto('/users'), ready: h1('Users') },
    {
      name: 'users-search-with-deleted',
      open: (p) => p.goto('/users?q=e2e-a11y&includeDeleted=true'),
      ready: async (p) => {
        await expect(p.getByTestId(`user-row-${deletedEmail}`)).toBeVisible();
      },
    },
    {
      name: 'users-search-no-match',
      open: (p) => p.goto('/users?q=nobody-has-this-name'),
      ready: async (p) => {
        await expect(p.getByTestId('empty-state')).toBeVisible();
      },
    },
    { name: 'user-new', open: (p) => p.goto('/users/new'), ready: h1('Add user') },
    {
      name: 'user-new-with-errors',
      open: async (p) => {
        await p.goto('/users/new');
        await p.getByLabel('Email address').fill('not an email');
        await p.getByTestId('save-user').click();
      },
      ready: async (p) => {
        await expect(p.getByTestId('error-summary')).toBeVisible();
      },
    },
    { name: 'user-detail', open: (p) => p.goto(`/users/${liveId}`), ready: h1('Lena Longname-Livingston') },
    { name: 'user-edit', open: (p) => p.goto(`/users/${liveId}/edit`), ready: h1("Edit Lena Longname-Livingston") },
    {
      name: 'user-delete-confirm',
      open: (p) => p.goto(`/users/${liveId}/delete`),
      ready: async (p) => {
        await expect(p.getByTestId('confirm-button')).toBeVisible();
      },
    },
    {
      name: 'user-detail-deleted',
      open: (p) => p.goto(`/users/${deletedId}`),
      ready: async (p) => {
        await expect(p.getByTestId('deleted-note')).toBeVisible();
      },
    },
    {
      name: 'user-detail-self',
      open: async (p) => {
        await p.goto('/users?q=admin@example.test');
        await p.getByTestId('user-row-admin@example.test').getByRole('link').click();
      },
      ready: h1('Ada Admin'),
    },
    { name: 'connectors', open: (p) => p.goto('/connectors'), ready: h1('Connectors') },
    {
      name: 'connectors-with-deleted',
      open: (p) => p.goto(`/connectors?q=${tag}&includeDeleted=true`),
      ready: async (p) => {
        await expect(p.getByTestId(`connector-row-Old relay ${tag}`)).toBeVisible();
      },
    },
    { name: 'connector-new', open: (p) => p.goto('/connectors/new'), ready: h1('Create a connector: choose its type') },
    { name: 'connector-new-details', open: (p) => p.goto('/connectors/new?type=authifi'), ready: h1('Name your Authifi connector') },
    {
      // LDAP has every kind of setting: a PEM textarea, switches, a number with a default.
      name: 'connector-new-settings-ldap',
      open: async (p) => {
        await p.goto('/connectors/new?type=ldap');
        await field(p, 'name').fill(`Staff directory ${tag}`);
        await p.getByTestId('wizard-next').click();
      },
      ready: h1('Settings of your LDAP connector'),
    },
    {
      name: 'connector-new-settings-with-errors',
      open: async (p) => {
        await wizardToConfig(p);
        await fillAuthifi(p, 'ftp://auth.example.com');
      },
      ready: async (p) => {
        await expect(p.getByTestId('error-summary')).toBeFocused();
        await expect(p.getByTestId('secret-state-clientSecret')).toHaveText('entered, not saved yet');
      },
    },
    {
      name: 'connector-new-review',
      open: async (p) => {
        await wizardToConfig(p);
        await fillAuthifi(p, 'https://staging.auth.example.com/_api');
      },
      ready: async (p) => {
        await expect(p.getByTestId('wizard-review')).toBeVisible();
      },
    },
    {
      name: 'connector-overview-down',
      open: (p) => p.goto(`/connectors/${cx.authifi}`),
      ready: async (p) => {
        await expect(p.getByTestId('connector-health')).toHaveText('down');
        await expect(p.getByTestId('health-incident')).toBeVisible();
      },
    },
    {
      name: 'connector-configuration',
      open: (p) => p.goto(`/connectors/${cx.authifi}?tab=configuration`),
      ready: async (p) => {
        await expect(p.getByTestId('config-form')).toBeVisible();
      },
    },
    {
      name: 'connector-configuration-with-errors',
      open: async (p) => {
        await p.goto(`/connectors/${cx.authifi}?tab=configuration`);
        await field(p, 'config.baseUrl').fill('auth.example.com');
        await field(p, 'mockData').fill('{"listUsers": {"error": {"class": "broken", "message": "x"}}}');
        await p.getByTestId('save-config').click();
      },
      ready: async (p) => {
        await expect(p.getByTestId('error-summary')).toBeVisible();
      },
    },
    {
      name: 'connector-commands',
      open: (p) => p.goto(`/connectors/${cx.authifi}?tab=commands&command=createUser`),
      ready: async (p) => {
        await expect(p.getByTestId('mutating-warning')).toBeVisible();
      },
    },
    {
      name: 'connector-commands-records',
      open: async (p) => {
        await p.goto(`/connectors/${cx.authifi}?tab=commands`);
        await p.getByTestId('command-listUsers').click();
        await expect(p).toHaveURL(/command=listUsers/);
        await field(p, 'useMock').check();
        await p.getByTestId('run-command').click();
      },
      ready: async (p) => {
        await expect(p.getByTestId('result-records')).toBeVisible();
        await expect(p.getByTestId('console-result')).toBeFocused();
      },
    },
    {
      name: 'connector-commands-error',
      open: async (p) => {
        await p.goto(`/connectors/${cx.mail}?tab=commands`);
        await field(p, 'param.to').fill('jane.doe@example.com');
        await field(p, 'param.subject').fill('Welcome');
        await field(p, 'param.body').fill('Your account is ready.');
        await p.getByTestId('run-command').click();
      },
      ready: async (p) => {
        await expect(p.getByTestId('error-class')).toHaveText('Credentials refused');
      },
    },
    {
      name: 'connector-test-failed',
      open: async (p) => {
        await p.goto(`/connectors/${cx.authifi}?tab=test`);
        await p.getByTestId('run-test').click();
      },
      ready: async (p) => {
        await expect(p.getByTestId('test-outcome')).toHaveText('failed');
      },
    },
    {
      name: 'connector-logs',
      open: (p) => p.goto(`/connectors/${cx.authifi}?tab=logs`),
      ready: async (p) => {
        await expect(p.getByTestId('executions-table')).toBeVisible();
      },
    },
    {
      name: 'connector-impact',
      open: (p) => p.goto(`/connectors/${cx.pause}?tab=impact`),
      ready: async (p) => {
        await expect(p.getByTestId('impact-table')).toBeVisible();
      },
    },
    {
      name: 'connector-impact-empty',
      open: (p) => p.goto(`/connectors/${cx.authifi}?tab=impact`),
      ready: async (p) => {
        await expect(p.getByTestId('impact-empty')).toBeVisible();
      },
    },
    {
      name: 'connector-delete-confirm',
      open: (p) => p.goto(`/connectors/${cx.pause}/delete`),
      ready: async (p) => {
        await expect(p.getByTestId('confirm-button')).toBeVisible();
      },
    },
    {
      name: 'connector-deleted',
      open: (p) => p.goto(`/connectors/${cx.deleted}`),
      ready: async (p) => {
        await expect(p.getByTestId('deleted-note')).toBeVisible();
      },
    },
    {
      name: 'sync-tab',
      open: (p) => p.goto(`/connectors/${sx.dir}/sync/user`),
      ready: async (p) => {
        await expect(p.getByTestId('sync-run-line')).toContainText('completed');
        await expect(p.getByTestId('sync-resources-table')).toBeVisible();
      },
    },
    {
      // The ambiguous record with its user picker open, searched as the admin types.
      name: 'sync-review-ambiguous-picker',
      open: async (p) => {
        await p.goto(`/connectors/${sx.dir}/sync/user?status=ambiguous`);
        await p.getByTestId('match-link').click();
        await p.getByTestId('picker-search').fill('jdoe@example.test');
      },
      ready: async (p) => {
        await expect(p.getByTestId('picker-results').locator('li')).toHaveCount(2);
      },
    },
    {
      name: 'sync-config-with-errors',
      open: async (p) => {
        await p.goto(`/connectors/${sx.dir}/sync/user`);
        await p.locator('#sync-cron').fill('every day');
        await p.locator('#sync-staleRetention').fill('a week');
        await p.getByTestId('save-sync-config').click();
      },
      ready: async (p) => {
        await expect(p.getByTestId('error-summary')).toBeFocused();
      },
    },
    {
      name: 'sync-bulk-skip-confirm',
      open: async (p) => {
        await p.goto(`/connectors/${sx.dir}/sync/user?status=ambiguous`);
        await p.getByTestId('match-select').check();
        await p.getByTestId('bulk-skip').click();
      },
      ready: async (p) => {
        await expect(p.getByTestId('bulk-skip-confirm')).toBeVisible();
      },
    },
    {
      name: 'sync-run',
      open: (p) => p.goto(`/connectors/${sx.dir}/sync/user/runs/${sx.run}`),
      ready: async (p) => {
        await expect(p.getByTestId('sync-changes-table')).toBeVisible();
      },
    },
    {
      name: 'sync-groups',
      open: (p) => p.goto(`/connectors/${sx.dir}/sync/group`),
      ready: async (p) => {
        await expect(p.getByTestId('sync-subtab-group')).toHaveAttribute('aria-current', 'page');
      },
    },
    {
      name: 'sync-picker-page',
      open: (p) => p.goto(`/connectors/${sx.dir}/sync/user/matches/${sx.ambiguous}/link?q=jdoe`),
      ready: async (p) => {
        await expect(p.getByTestId('picker-page')).toBeVisible();
      },
    },
    {
      name: 'sync-missing',
      open: (p) => p.goto(`/connectors/${cx.pause}/sync/user`),
      ready: async (p) => {
        await expect(p.getByTestId('sync-missing')).toBeVisible();
      },
    },
    {
      name: 'incident-connector',
      open: (p) => p.goto(`/incidents/${sx.incident}`),
      ready: async (p) => {
        await expect(p.getByTestId('incident-connector')).toBeVisible();
        await expect(p.getByTestId('incident-change').first()).toBeVisible();
      },
    },
    { name: 'workflows', open: (p) => p.goto('/workflows'), ready: h1('Workflows') },
    {
      name: 'workflows-deprecated',
      open: (p) => p.goto(`/workflows?q=${tag}&status=deprecated`),
      ready: async (p) => {
        await expect(p.getByTestId(`workflow-row-Old access request ${tag}`)).toBeVisible();
      },
    },
    { name: 'workflow-new', open: (p) => p.goto('/workflows/new'), ready: h1('Create a workflow') },
    {
      name: 'workflow-new-with-errors',
      open: async (p) => {
        await p.goto('/workflows/new');
        await field(p, 'description').fill('Grants access to the finance share.');
        await p.getByTestId('create-workflow').click();
      },
      ready: async (p) => {
        await expect(p.getByTestId('error-summary')).toBeFocused();
      },
    },
    {
      name: 'workflow-draft-lint',
      open: (p) => p.goto(`/workflows/${wfx.draft}`),
      ready: async (p) => {
        await expect(p.getByTestId('lint-table')).toBeVisible();
        await expect(p.getByTestId('json-editor')).toBeVisible();
      },
    },
    {
      name: 'designer',
      open: (p) => p.goto(`/workflows/${wfx.draft}/design`),
      ready: async (p) => {
        await expect(p.getByTestId('palette')).toBeVisible();
        await expect(p.getByTestId('lint-panel')).toBeVisible();
      },
    },
    {
      name: 'designer-step',
      open: (p) => p.goto(`/workflows/${wfx.draft}/design?step=tell-it`),
      ready: async (p) => {
        await expect(p.getByTestId('step-editor')).toBeVisible();
      },
    },
    {
      // A taken name comes back beside the field, under htmx, with the summary focused.
      name: 'designer-step-errors',
      open: async (p) => {
        await p.goto(`/workflows/${wfx.draft}/design?step=tell-it`);
        await p.locator('#field-name').fill('Start');
        await p.locator('#field-name').press('Enter');
      },
      ready: async (p) => {
        await expect(p.getByTestId('error-summary')).toBeFocused();
      },
    },
    {
      name: 'designer-variables',
      open: (p) => p.goto(`/workflows/${wfx.draft}/design?panel=variables`),
      ready: async (p) => {
        await expect(p.getByTestId('variables-panel')).toBeVisible();
      },
    },
    {
      name: 'designer-json',
      open: (p) => p.goto(`/workflows/${wfx.draft}/design?panel=json`),
      ready: async (p) => {
        await expect(p.getByTestId('json-form')).toBeVisible();
      },
    },
    {
      name: 'designer-template-dialog',
      open: async (p) => {
        await p.goto(`/workflows/${wfx.draft}/design`);
        await p.getByTestId('designer-templates').click();
      },
      ready: async (p) => {
        await expect(p.getByTestId('template-dialog')).toBeVisible();
        await expect(p.getByTestId('template-group-workflow-definition')).toBeVisible();
      },
    },
    {
      name: 'workflow-templates',
      open: (p) => p.goto(`/workflows/${wfx.draft}/templates`),
      ready: async (p) => {
        await expect(p.getByTestId('template-group-workflow-definition')).toBeVisible();
      },
    },
    {
      name: 'workflow-template-form',
      open: (p) => p.goto(`/workflows/${wfx.draft}/templates/provisioning-chain`),
      ready: async (p) => {
        await expect(p.getByTestId('template-form')).toBeVisible();
      },
    },
    {
      // No Active Directory connector exists here, so the insertion is refused.
      name: 'workflow-template-form-errors',
      open: async (p) => {
        await p.goto(`/workflows/${wfx.draft}/templates/provisioning-chain`);
        await p.getByTestId('new-username').fill('user name');
        await p.getByTestId('insert-template').click();
      },
      ready: async (p) => {
        await expect(p.getByTestId('error-summary')).toBeFocused();
      },
    },
    {
      name: 'workflow-json-errors',
      open: async (p) => {
        await p.goto(`/workflows/${wfx.draft}`);
        const text = await p.getByTestId('definition').inputValue();
        await p.getByTestId('definition').fill(text.replace('"type": "delay"', '"type": "sleep"').replace('"steps": [', '"steps": [\n    {"id": "x", "type": 7},'));
        await p.getByTestId('save-definition').click();
      },
      ready: async (p) => {
        await expect(p.getByTestId('error-summary')).toBeFocused();
      },
    },
    {
      // Publish leads to a confirmation, which lists the errors that refuse it.
      name: 'workflow-publish-blocked',
      open: async (p) => {
        await p.goto(`/workflows/${wfx.draft}`);
        await p.getByTestId('publish-workflow').click();
      },
      ready: async (p) => {
        await expect(p.getByTestId('publish-blocked')).toBeFocused();
        await expect(p.getByTestId('confirm-button')).toHaveCount(0);
      },
    },
    {
      // A publish posted anyway (a draft broken after its confirmation) is refused on the
      // workflow's page.
      name: 'workflow-publish-refused',
      open: async (p) => {
        await p.goto(`/workflows/${wfx.draft}`);
        await p.evaluate((action) => {
          const form = document.createElement('form');
          form.method = 'post';
          form.action = action;
          document.body.append(form);
          form.submit();
        }, `/workflows/${wfx.draft}/publish`);
      },
      ready: async (p) => {
        await expect(p.getByTestId('publish-refused')).toBeFocused();
      },
    },
    {
      name: 'workflow-publish-confirm',
      open: (p) => p.goto(`/workflows/${wfx.active}/publish`),
      ready: async (p) => {
        await expect(p.getByTestId('publish-consequences')).toBeVisible();
        await expect(p.getByTestId('confirm-button')).toBeVisible();
      },
    },
    {
      name: 'workflow-active-with-draft',
      open: (p) => p.goto(`/workflows/${wfx.active}`),
      ready: async (p) => {
        await expect(p.getByTestId('versions-table')).toBeVisible();
        await expect(p.getByTestId('draft-open')).toBeVisible();
      },
    },
    {
      name: 'workflow-version-1',
      open: (p) => p.goto(`/workflows/${wfx.active}?version=1`),
      ready: async (p) => {
        await expect(p.getByTestId('shown-note')).toBeVisible();
      },
    },
    {
      name: 'workflow-diff',
      open: (p) => p.goto(`/workflows/${wfx.active}/diff?from=1&to=draft`),
      ready: async (p) => {
        await expect(p.getByTestId('diff')).toBeVisible();
      },
    },
    {
      name: 'workflow-import-broken-file',
      open: async (p) => {
        await p.goto('/workflows/new');
        await p.getByTestId('import-file').setInputFiles({
          name: 'broken.json',
          mimeType: 'application/json',
          buffer: Buffer.from('{\n  "name": "Broken",\n  "steps": [}\n}\n'),
        });
        await p.getByTestId('import-submit').click();
      },
      ready: async (p) => {
        await expect(p.getByTestId('error-summary')).toBeFocused();
        await expect(p.getByTestId('error-summary')).toContainText('line 3, column 13');
      },
    },
    {
      name: 'workflow-import-draft-unconfirmed',
      open: async (p) => {
        // The open draft's own file, imported back without ticking "Replace the open draft".
        const file = await p.request.get(`/workflows/${wfx.active}/export?version=draft`);
        expect(file.status()).toBe(200);
        await p.goto(`/workflows/${wfx.active}`);
        await p.locator('#import-details > summary').click();
        await p.getByTestId('import-file').setInputFiles({ name: 'draft.json', mimeType: 'application/json', buffer: await file.body() });
        await p.getByTestId('import-submit').click();
      },
      ready: async (p) => {
        await expect(p.getByTestId('error-summary')).toBeFocused();
        await expect(p.getByTestId('carried-file')).toContainText('draft.json');
      },
    },
    {
      name: 'workflow-deprecate-confirm',
      open: (p) => p.goto(`/workflows/${wfx.active}/deprecate`),
      ready: async (p) => {
        await expect(p.getByTestId('confirm-button')).toBeVisible();
      },
    },
    {
      name: 'workflow-deprecated',
      open: (p) => p.goto(`/workflows/${wfx.deprecated}`),
      ready: async (p) => {
        await expect(p.getByTestId('workflow-status')).toHaveText('deprecated');
      },
    },
    {
      name: 'workflow-delete-confirm',
      open: (p) => p.goto(`/workflows/${wfx.deprecated}/delete`),
      ready: async (p) => {
        await expect(p.getByTestId('confirm-button')).toBeVisible();
      },
    },
    {
      name: 'workflow-start-form',
      open: (p) => p.goto(`/workflows/${rx.welcome}/start`),
      ready: h1(`Start Welcome mail ${tag}`),
    },
    {
      name: 'workflow-start-with-errors',
      open: async (p) => {
        await p.goto(`/workflows/${rx.welcome}/start`);
        await field(p, 'variables.manager').fill('nobody@example.com');
        await field(p, 'variables.extras').fill('{"desk": ');
        await p.getByTestId('start-run').click();
      },
      ready: async (p) => {
        await expect(p.getByTestId('error-summary')).toBeFocused();
      },
    },
    { name: 'runs', open: (p) => p.goto('/runs'), ready: h1('Runs') },
    {
      name: 'runs-failed',
      open: (p) => p.goto(`/runs?status=failed&workflowId=${rx.welcome}`),
      ready: async (p) => {
        await expect(p.getByTestId(`run-row-${rx.failed}`)).toBeVisible();
      },
    },
    {
      name: 'run-completed',
      open: (p) => p.goto(`/runs/${rx.completed}`),
      ready: async (p) => {
        await expect(p.getByTestId('run-status')).toHaveText('completed');
      },
    },
    {
      name: 'run-failed',
      open: (p) => p.goto(`/runs/${rx.failed}`),
      ready: async (p) => {
        await expect(p.getByTestId('connector-error')).toBeVisible();
        await expect(p.getByTestId('retry-run')).toBeVisible();
      },
    },
    {
      name: 'run-diagnose',
      open: (p) => p.goto(`/runs/${rx.partial}#diagnose`),
      ready: async (p) => {
        await expect(p.getByTestId('diagnose')).toBeInViewport();
        await expect(p.getByTestId('rollback-run')).toBeVisible();
      },
    },
    {
      name: 'run-rollback-confirm',
      open: (p) => p.goto(`/runs/${rx.partial}/rollback`),
      ready: async (p) => {
        await expect(p.getByTestId('plan-item')).toHaveCount(3);
        await expect(p.getByTestId('confirm-button')).toBeVisible();
      },
    },
    {
      name: 'run-rollback-run',
      open: (p) => p.goto(`/runs/${rx.rollback}`),
      ready: async (p) => {
        await expect(p.getByTestId('run-status')).toHaveText('completed');
        await expect(p.getByTestId('manual-undo')).toBeVisible();
      },
    },
    {
      name: 'run-waiting-open-details',
      open: async (p) => {
        await p.goto(`/runs/${rx.waiting}`);
        await p.locator('#run-variables > summary').click();
        await p.locator('#run-timeline > summary').click();
      },
      ready: async (p) => {
        await expect(p.getByTestId('run-live')).toBeVisible();
        await expect(p.getByTestId('run-timeline')).toBeVisible();
      },
    },
    {
      name: 'run-cancel-confirm',
      open: (p) => p.goto(`/runs/${rx.waiting}/cancel`),
      ready: async (p) => {
        await expect(p.getByTestId('confirm-button')).toBeVisible();
      },
    },
    {
      name: 'tasks',
      open: (p) => p.goto('/tasks'),
      ready: async (p) => {
        await expect(p.getByTestId('task-hold-note')).toBeVisible();
        await expect(p.getByTestId('task-instructions').first()).toBeVisible();
      },
    },
    {
      name: 'tasks-approvals',
      open: (p) => p.goto('/tasks?tab=approvals'),
      ready: async (p) => {
        await expect(p.getByTestId('task-slot').first()).toContainText('Approver 1 of 2');
      },
    },
    {
      name: 'tasks-reject-without-reason',
      open: async (p) => {
        await p.goto(`/tasks?tab=approvals&runId=${rx.approval}`);
        const card = p.getByTestId('task-card');
        await card.getByText('Reject…').click();
        await card.getByTestId('task-reject-submit').click();
      },
      ready: async (p) => {
        await expect(p.getByTestId('error-summary')).toBeFocused();
      },
    },
    {
      name: 'tasks-everyone-assign',
      open: async (p) => {
        await p.goto('/tasks?tab=approvals&scope=all');
        await p.getByTestId('task-card').filter({ hasText: `Server access ${tag}` }).getByText('Assign to…').click();
      },
      ready: async (p) => {
        await expect(p.getByTestId('task-assign-user').filter({ visible: true })).toBeVisible();
      },
    },
    {
      name: 'run-waiting-approval',
      open: (p) => p.goto(`/runs/${rx.approval}`),
      ready: async (p) => {
        await expect(p.getByTestId('step-people')).toContainText('Waiting for approval by admin@example.test');
        await expect(p.getByTestId('step-act')).toBeVisible();
      },
    },
    { name: 'profile', open: (p) => p.goto('/profile'), ready: h1('Your profile') },
    {
      name: 'profile-new-token',
      open: async (p) => {
        await p.goto('/profile');
        await p.locator('#field-name').fill(`a11y token ${uniqueSuffix()}`);
        await p.getByTestId('create-token').click();
      },
      ready: async (p) => {
        await expect(p.getByTestId('new-token-value')).toBeVisible();
      },
    },
    { name: 'notifications', open: (p) => p.goto('/notifications'), ready: h1('Notifications') },
    { name: 'events', open: (p) => p.goto('/events'), ready: h1('Events') },
    { name: 'incidents', open: (p) => p.goto('/incidents'), ready: h1('Incidents') },
    {
      name: 'audit-verified',
      open: async (p) => {
        await p.goto('/audit');
        await p.getByTestId('verify-audit').click();
      },
      ready: async (p) => {
        await expect(p.getByTestId('audit-verify-ok')).toBeVisible();
      },
    },
    { name: 'settings', open: (p) => p.goto('/settings'), ready: h1('Settings') },
    {
      name: 'error-404',
      open: (p) => p.goto('/no-such-page'),
      ready: async (p) => {
        await expect(p.getByTestId('error-404')).toBeVisible();
      },
    },
    {
      name: 'signed-out',
      open: async (p) => {
        const logout = p.getByTestId('logout');
        if ((await logout.count()) > 0) await logout.click();
        else await p.goto('/signed-out');
      },
      ready: async (p) => {
        await expect(p).toHaveURL(/\/signed-out$/);
        await expect(p.getByTestId('signed-out')).toBeVisible();
      },
    },
    {
      name: 'error-403-requestor',
      open: async (p) => {
        await p.goto('/users');
        if (signInPageURL.test(p.url())) await p.getByTestId('devoidc-user-demo-requestor').click();
      },
      ready: async (p) => {
        await expect(p.getByTestId('error-403')).toBeVisible();
      },
    },
    { name: 'dashboard-requestor', open: (p) => p.goto('/'), ready: h1(/^Hello, Riley/) },
  ];

  const findings: Finding[] = [];
  for (const [i, stop] of stops.entries()) {
    const file = (size: { width: number; height: number }) =>
      path.join(shotsDir, `${String(i + 1).padStart(2, '0')}-${stop.name}-${size.width}x${size.height}.png`);

    await test.step(`${stop.name} at ${desktop.width}×${desktop.height}`, async () => {
      await page.setViewportSize(desktop);
      await stop.open(page);
      await stop.ready(page);
      const found = await scan(page, stop, 'desktop');
      findings.push(...found);
      await page.screenshot({ path: file(desktop), fullPage: true });
      const bad = found.filter((f) => f.wcag20 && failingImpacts.has(f.impact));
      expect.soft(bad.map(describe), `serious/critical axe violations on ${stop.name}`).toEqual([]);
    });

    await test.step(`${stop.name} at ${phone.width}×${phone.height}`, async () => {
      await page.setViewportSize(phone);
      await stop.open(page);
      await stop.ready(page);
      // Not a pass/fail criterion: printed so narrow-screen-only problems are seen.
      findings.push(...(await scan(page, stop, 'phone')));
      await page.screenshot({ path: file(phone), fullPage: true });
      // A phone page may scroll inside a wide table, never as a whole.
      const scroll = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      expect.soft(scroll, `${stop.name} at ${phone.width}px must not scroll sideways`).toBe(0);
    });
  }
  await page.setViewportSize(desktop);

  // Report: everything axe found, by page, desktop first.
  const lines: string[] = [];
  for (const size of ['desktop', 'phone']) {
    const ofSize = findings.filter((f) => f.size === size);
    const where = size === 'desktop' ? '1280×800' : '390×844 (informational)';
    const gating = ofSize.filter((f) => f.wcag20);
    const moderate = gating.filter((f) => !failingImpacts.has(f.impact));
    lines.push(
      `axe-core ${require('axe-core/package.json').version} at ${where}: ${gating.length} WCAG 2.0 A/AA violation(s) ` +
        `(${gating.length - moderate.length} serious/critical, ${moderate.length} moderate/minor), ` +
        `${ofSize.length - gating.length} WCAG 2.1/2.2 or best-practice finding(s)`,
    );
    for (const stop of stops) {
      const mine = ofSize.filter((f) => f.page === stop.name);
      if (mine.length > 0) lines.push(`${stop.name} (${mine[0].url})`, ...mine.map(describe));
    }
  }
  const report = lines.join('\n');
  console.log(report);
  fs.writeFileSync(path.join(shotsDir, 'axe-findings.json'), JSON.stringify(findings, null, 2));
  await testInfo.attach('axe-findings', { body: report, contentType: 'text/plain' });
});

test('the skip link is the first stop of the keyboard and moves focus to the content', async ({ page, loginAs }) => {
  await loginAs('demo-admin', '/users');
  await page.keyboard.press('Tab');
  const skip = page.getByRole('link', { name: 'Skip to main content' });
  await expect(skip).toBeFocused();
  await expect(skip).toBeInViewport();
  await page.keyboard.press('Enter');
  await expect(page.locator('main#main')).toBeFocused();
  // The next Tab continues inside the content, not in the header.
  await page.keyboard.press('Tab');
  await expect(page.getByTestId('new-user')).toBeFocused();
});
