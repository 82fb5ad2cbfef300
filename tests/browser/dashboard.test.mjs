// Drives the dashboard in Debian's headless Chromium; started by run.sh, which provides a
// running gateway and a tenant through the environment.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { chromium } from 'playwright-core';

const { GATEWAY_URL, TENANT_JSON, ADMIN_TOKEN, APP_SECRET, OUT_DIR, FIXTURE, DOCS_SCREENSHOT } = process.env;
const tenant = JSON.parse(TENANT_JSON);
const TIMEOUT_MS = 15_000;

/** A receiver that answers 500 to the first delivery and 200 to every later one. */
async function startReceiver() {
  let calls = 0;
  const server = createServer((request, response) => {
    request.resume().on('end', () => {
      calls += 1;
      const first = calls === 1;
      response.writeHead(first ? 500 : 200, { 'content-type': 'text/plain' });
      response.end(first ? 'receiver down for maintenance' : 'thanks');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${server.address().port}/hook` };
}

async function api(path, { method = 'GET', body } = {}) {
  const response = await fetch(`${GATEWAY_URL}${path}`, {
    method,
    headers: { authorization: `Bearer ${tenant.api_key}`, 'content-type': 'application/json' },
    body: body && JSON.stringify(body),
  });
  assert.ok(response.ok, `${method} ${path}: ${response.status} ${await response.clone().text()}`);
  return response.json();
}

/** POSTs a webhook signed over its exact bytes, as Meta does. */
async function postSigned(body) {
  const signature = createHmac('sha256', APP_SECRET).update(body).digest('hex');
  const response = await fetch(tenant.callback_urls.all, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': `sha256=${signature}` },
    body,
  });
  assert.equal(response.status, 200, 'the gateway accepts the signed webhook');
}

async function eventually(what, check) {
  const deadline = Date.now() + TIMEOUT_MS;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function launch() {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    chromiumSandbox: false, // CI runs as root
    // Playwright gives each launch a fresh profile; these keep Chromium off the (closed) network.
    args: ['--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(TIMEOUT_MS);
  const problems = [];
  // Failed requests are logged as errors too; signing in with a tenant key makes one on
  // purpose (the admin probe answers 401), and the test checks what the page shows instead.
  page.on('console', (message) => {
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(error.message));
  return { browser, page, problems };
}

const tests = {
  async 'a tenant finds a failed delivery, retries it and sees the successful attempt'() {
    const receiver = await startReceiver();
    const { browser, page, problems } = await launch();
    try {
      await api('/v1/endpoints', { method: 'POST', body: { url: receiver.url, description: 'CRM inbox' } });
      await postSigned(await readFile(FIXTURE));
      const failed = await eventually('the failed delivery',
        async () => (await api('/v1/deliveries?state=failed')).items[0]);
      // Event text is attacker-controlled: this one must show up as text, never as markup.
      const hostile = (await readFile(FIXTURE, 'utf8'))
        .replace('hi everyone!', '<img src=x onerror=window.pwned=1>')
        .replace(/"id": "wamid[^"]*"/, '"id": "wamid.browser-test-hostile"');
      await postSigned(Buffer.from(hostile));

      await page.goto(`${GATEWAY_URL}/dashboard`);
      await page.getByLabel('Admin token or tenant API key').fill(tenant.api_key);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'Overview' }).waitFor();
      assert.equal(await page.evaluate(() => sessionStorage.length), 1, 'the key lives in sessionStorage');

      await page.getByRole('navigation').getByRole('link', { name: 'Deliveries' }).click();
      await page.getByRole('heading', { name: 'Deliveries' }).waitFor();
      await page.getByLabel('State', { exact: true }).selectOption('failed');
      await page.getByRole('button', { name: 'Apply' }).click();
      await page.getByRole('link', { name: `Open delivery ${failed.id}` }).click();
      await page.getByRole('heading', { name: `Delivery ${failed.id}` }).waitFor();
      const attempts = page.getByRole('table', { name: 'Attempts' }).locator('tbody tr');
      assert.equal(await attempts.count(), 1);
      assert.match(await attempts.first().innerText(), /500[\s\S]*receiver down for maintenance/);
      assert.match(await page.locator('.panels').innerText(), /"text": "hi everyone!"[\s\S]*Raw Meta payload[\s\S]*"body": "hi everyone!"/);

      await page.getByRole('button', { name: 'Retry' }).click();
      await attempts.nth(1).filter({ hasText: 'succeeded' }).waitFor();
      assert.match(await attempts.nth(1).innerText(), /200[\s\S]*thanks/);
      await page.locator('.facts .badge.succeeded').waitFor();
      await page.screenshot({ path: `${OUT_DIR}/delivery.png`, fullPage: true });

      await page.getByRole('navigation').getByRole('link', { name: 'Events' }).click();
      await page.getByRole('cell', { name: '<img src=x onerror=window.pwned=1>' }).waitFor();
      assert.equal(await page.locator('#view img').count(), 0, 'no element was made from event text');
      assert.equal(await page.evaluate(() => window.pwned), undefined);

      await page.getByRole('navigation').getByRole('link', { name: 'Deliveries' }).click();
      await page.getByRole('table', { name: 'Deliveries, newest first' }).waitFor();
      await page.screenshot({ path: `${OUT_DIR}/deliveries.png`, fullPage: true });
      for (const view of ['Overview', 'Endpoints', 'Events']) {
        await page.getByRole('navigation').getByRole('link', { name: view }).click();
        await page.getByRole('heading', { name: view, exact: true }).waitFor();
        assert.equal(await page.getByRole('alert').filter({ hasText: /./ }).count(), 0, `${view} shows an error`);
        await page.screenshot({ path: `${OUT_DIR}/${view.toLowerCase()}.png`, fullPage: true });
      }
      await page.goto(`${GATEWAY_URL}/dashboard#/deliveries/${failed.id}`);
      await page.locator('.facts .badge.succeeded').waitFor();
      await page.screenshot({ path: DOCS_SCREENSHOT || `${OUT_DIR}/delivery-retried.png`, fullPage: true });
      assert.deepEqual(problems, [], 'no script errors or CSP violations');
    } finally {
      await browser.close();
      receiver.server.close();
    }
  },

  async 'the operator sees every tenant, and the delivery log or why it is missing'() {
    const { browser, page, problems } = await launch();
    try {
      await page.goto(`${GATEWAY_URL}/dashboard`);
      await page.getByLabel('Admin token or tenant API key').fill(ADMIN_TOKEN);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('navigation').getByRole('link', { name: 'Tenants' }).click();
      await page.getByRole('cell', { name: 'Browser test', exact: true }).waitFor();
      await page.getByRole('link', { name: 'Deliveries of Browser test' }).click();
      await page.getByRole('heading', { name: 'Deliveries' }).waitFor();
      // Until the admin delivery routes exist, the page says so instead of failing.
      await page.locator('#view table, #view .notice').first().waitFor();
      assert.equal(await page.getByRole('alert').filter({ hasText: /./ }).count(), 0);
      await page.screenshot({ path: `${OUT_DIR}/admin-deliveries.png`, fullPage: true });
      assert.deepEqual(problems, []);
    } finally {
      await browser.close();
    }
  },
};

let passed = 0;
let failedCount = 0;
for (const [name, run] of Object.entries(tests)) {
  try {
    await run();
    passed += 1;
    console.log(`ok - ${name}`);
  } catch (error) {
    failedCount += 1;
    console.log(`not ok - ${name}\n${error.stack}`);
  }
}
console.log(`browser: ${passed} passed, ${failedCount} failed`);
process.exitCode = failedCount === 0 ? 0 : 1;
