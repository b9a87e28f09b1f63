// Drives headless Chromium (Debian's /usr/bin/chromium, through
// playwright-core) through GraphiQL as served by a running paygraph:
//   node graphiql.mjs <server origin> <bearer token> <expected email> <screenshot.png>
// Every request to anything but the server is aborted and reported. Prints
// one JSON object with what it saw; tests/api/browser.rs judges it.
import { chromium } from 'playwright-core';

const [origin, token, email, screenshot] = process.argv.slice(2);
if (!screenshot) {
  console.error('usage: graphiql.mjs <origin> <token> <email> <screenshot>');
  process.exit(2);
}
// Creates a EUR wallet once the subscription is open (its first event is
// the wallet's creation), retrying while the socket is still connecting.
async function waitForWallet(origin, token) {
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const answer = await fetch(`${origin}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: 'mutation { createWallet(input: {currency: "EUR"}) { id } }' }),
  });
  return answer.json();
}

const report = { offsite: [], policyViolations: [], pageErrors: [], failedRequests: [], steps: [] };
const step = (name) => report.steps.push(name);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
const page = await context.newPage();
try {
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.origin === origin || url.protocol === 'data:') return route.continue();
    report.offsite.push(url.href);
    return route.abort('blockedbyclient');
  });
  page.on('console', (message) => {
    if (/Content.Security.Policy/i.test(message.text())) report.policyViolations.push(message.text());
  });
  page.on('pageerror', (error) => report.pageErrors.push(String(error)));
  page.on('response', (answer) => {
    if (answer.status() >= 400) report.failedRequests.push(`${answer.status()} ${answer.url()}`);
  });

  const answer = await page.goto(`${origin}/graphql`, { waitUntil: 'load' });
  report.status = answer.status();
  report.csp = answer.headers()['content-security-policy'] || null;
  await page.locator('.graphiql-query-editor .CodeMirror').waitFor({ timeout: 20000 });
  step('loaded');

  // The Headers pane carries the token; the query asks who we are.
  await page.locator('button[data-name="headers"]').click();
  const shown = '.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror';
  await page.locator(shown).waitFor();
  await page.evaluate(
    ([shown, token, query]) => {
      document.querySelector(shown).CodeMirror.setValue(JSON.stringify({ Authorization: `Bearer ${token}` }));
      document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(query);
    },
    [shown, token, '{ me { email firstName } }'],
  );
  await page.locator('.graphiql-execute-button').click();
  const response = page.locator('.graphiql-response');
  await response.getByText(email).waitFor({ timeout: 20000 });
  report.response = await response.innerText();
  step('queried');

  // The Docs explorer lists the schema's root types; Query opens its fields.
  await page.getByRole('button', { name: /Show Documentation Explorer/i }).click();
  const docs = page.locator('.graphiql-doc-explorer');
  await docs.getByText('Query', { exact: true }).first().waitFor({ timeout: 20000 });
  report.docsRoot = await docs.innerText();
  await docs.getByText('Query', { exact: true }).first().click();
  await docs.locator('.graphiql-doc-explorer-title').getByText('Query').waitFor({ timeout: 20000 });
  report.docsQuery = await docs.innerText();
  step('docs');
  await page.screenshot({ path: screenshot });
  step('screenshot');

  // A subscription goes over graphql-ws with the same headers: a wallet
  // created meanwhile arrives in the response pane.
  await page.evaluate(() => {
    document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror
      .setValue('subscription { walletUpdated { currency version } }');
  });
  // GraphiQL parses the editor's text a moment after it changes (a
  // debounce) and picks the transport from that parse: a click before it
  // would send the subscription as the previous query, over HTTP.
  await page.waitForFunction(() => {
    const ast = document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.documentAST;
    return Boolean(ast && ast.definitions.some((d) => d.operation === 'subscription'));
  }, null, { timeout: 20000 });
  await page.locator('.graphiql-execute-button').click();
  const created = await waitForWallet(origin, token);
  await response.getByText('EUR').waitFor({ timeout: 20000 });
  report.subscription = await response.innerText();
  report.created = created;
  step('subscription');

} catch (error) {
  report.failure = String(error && error.stack || error);
  // What the page showed when it failed, for whoever reads the report.
  await page.screenshot({ path: screenshot }).catch(() => {});
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
