// A web front end on another origin calls the API with fetch, in headless
// Chromium (Debian's /usr/bin/chromium, through playwright-core):
//   node cors.mjs <api origin> <allowed page port> <other page port>
// Serves a blank page on http://localhost:<port> for each port, runs a
// JSON POST with an Authorization header from each, and prints one object:
// what each page's fetch got (the answer, or the browser's refusal).
import http from 'node:http';
import { chromium } from 'playwright-core';

const [api, allowedPort, otherPort] = process.argv.slice(2);
if (!otherPort) {
  console.error('usage: cors.mjs <api origin> <allowed page port> <other page port>');
  process.exit(2);
}

function serve(port) {
  const server = http.createServer((_, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<!doctype html><title>front end</title>');
  });
  return new Promise((resolve) => server.listen(Number(port), '127.0.0.1', () => resolve(server)));
}

// What a front end does: a JSON POST with an Authorization header, which
// needs a preflight.
async function callFrom(page, port) {
  await page.goto(`http://localhost:${port}/`);
  return page.evaluate(async (api) => {
    try {
      const answer = await fetch(`${api}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer not-a-token' },
        body: JSON.stringify({ query: '{ __typename }' }),
      });
      return { status: answer.status, body: await answer.json() };
    } catch (error) {
      return { refused: String(error) };
    }
  }, api);
}

const servers = [await serve(allowedPort), await serve(otherPort)];
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
const report = {};
try {
  const page = await browser.newPage();
  report.allowed = await callFrom(page, allowedPort);
  report.other = await callFrom(page, otherPort);
} catch (error) {
  report.failure = String(error && error.stack || error);
} finally {
  await browser.close();
  for (const server of servers) server.close();
}
console.log(JSON.stringify(report));
