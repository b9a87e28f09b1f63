// Runs the GraphQL-over-HTTP specification's server audit against the URL
// given as the first argument and prints every result as one JSON array:
// [{ id, name, status: "ok" | "warn" | "error" | "notice", reason? }].
import { auditServer } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: node audit.mjs <url of /graphql>');
  process.exit(2);
}
const results = await auditServer({ url });
console.log(
  JSON.stringify(
    results.map(({ id, name, status, reason }) => ({ id, name, status, reason })),
  ),
);
