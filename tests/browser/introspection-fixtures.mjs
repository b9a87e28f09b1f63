// Writes the introspection queries of graphql-js into
// tests/api/fixtures/introspection/, one file per option set, so the Rust
// tests send exactly what tools built on graphql-js send. Run again after
// bumping graphql in package.json: `node tests/browser/introspection-fixtures.mjs`.
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as graphql16 from 'graphql';
import * as graphql17 from 'graphql17';

const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'api', 'fixtures', 'introspection');
mkdirSync(out, { recursive: true });

// Every option of getIntrospectionQuery that asks the server for a feature
// of the GraphQL specification (graphql 17's experimental directive
// deprecation is not in the specification).
const everything = {
  descriptions: true,
  specifiedByUrl: true,
  directiveIsRepeatable: true,
  schemaDescription: true,
  inputValueDeprecation: true,
  oneOf: true,
};
const variants = {
  'graphql16-default': graphql16.getIntrospectionQuery(),
  'graphql16-all-options': graphql16.getIntrospectionQuery(everything),
  'graphql16-no-descriptions': graphql16.getIntrospectionQuery({ ...everything, descriptions: false }),
  'graphql17-default': graphql17.getIntrospectionQuery(),
  'graphql17-all-options': graphql17.getIntrospectionQuery(everything),
};
for (const [name, query] of Object.entries(variants)) {
  writeFileSync(join(out, `${name}.graphql`), query.trim() + '\n');
  console.log(`${name}.graphql: ${graphql16.version} / ${graphql17.version}`);
}
