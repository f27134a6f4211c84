// ESLint flat config. Deliberately uses the non-type-checked presets so `npm run lint` stays fast
// (the TypeScript compiler already runs in `npm run build`).
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import tseslint from 'typescript-eslint';

// The Node globals plain .js files may use. TypeScript files do not need this: typescript-eslint
// turns `no-undef` off for them, because the compiler checks undefined names itself.
const nodeGlobals = Object.fromEntries(
  [
    'AbortController',
    'AbortSignal',
    'Blob',
    'Buffer',
    'FormData',
    'Headers',
    'Request',
    'Response',
    'TextDecoder',
    'TextEncoder',
    'URL',
    'URLSearchParams',
    'clearImmediate',
    'clearInterval',
    'clearTimeout',
    'console',
    'crypto',
    'fetch',
    'performance',
    'process',
    'queueMicrotask',
    'setImmediate',
    'setInterval',
    'setTimeout',
    'structuredClone',
  ].map((name) => [name, 'readonly']),
);

export default defineConfig([
  globalIgnores(['dist/', 'node_modules/', 'data/', 'keys/', 'coverage/', '.test-tmp/']),
  {
    files: ['**/*.ts', '**/*.js'],
    extends: [js.configs.recommended, tseslint.configs.recommended],
    languageOptions: {
      ecmaVersion: 'latest',
      sourceType: 'module',
      globals: nodeGlobals,
    },
    rules: {
      eqeqeq: 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' },
      ],
    },
  },
  {
    // Server code logs through pino; only the CLI (and bench/test, which this block does not cover) may print.
    files: ['src/**/*.ts', 'src/**/*.js'],
    ignores: ['src/cli/**'],
    rules: {
      'no-console': 'error',
    },
  },
]);
