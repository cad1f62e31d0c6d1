// One linter for the whole repo. Folder rules keep the layers apart (see README "Layout"):
// core -> only tfjs; protocol -> nothing at runtime; worker -> core + protocol;
// ui -> protocol + types of core + values of the pure core/config.ts, core/errors.ts, core/metrics.ts and
//       core/export/torch.ts (with the text of core/export/train_alum.py);
// only src/ui/store/bridge.ts creates a Worker.
import js from '@eslint/js';
import reactHooks from 'eslint-plugin-react-hooks';
import tseslint from 'typescript-eslint';

const noTfjs = {
  group: ['@tensorflow/*'],
  message: 'The UI never imports tfjs: tensors live in the worker.',
};

export default tseslint.config(
  {
    ignores: [
      'dist',
      'node_modules',
      'public',
      'playwright-report',
      'test-results',
      'runs',
      '.gpu-bench',
      '.dev',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        project: [
          './tsconfig.core.json',
          './tsconfig.worker.json',
          './tsconfig.app.json',
          './tsconfig.node.json',
        ],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      eqeqeq: 'error',
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      // tfjs ops return Tensor<Rank>; `as tf.Tensor3D` narrows the rank and is the idiom of tfjs' own code.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  { files: ['**/*.js', '**/*.mjs'], ...tseslint.configs.disableTypeChecked },
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                'react',
                'react-dom',
                'zustand',
                '**/protocol/**',
                '**/worker/**',
                '**/ui/**',
                '**/cli/**',
              ],
              message: 'core is framework-free: only tfjs and core.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/protocol/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@tensorflow/*', 'react', 'zustand', '**/worker/**', '**/ui/**'],
              message: 'protocol holds wire types only.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/worker/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['react', 'react-dom', 'zustand', '**/ui/**', '**/cli/**'],
              message: 'the worker knows no UI.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/ui/**/*.{ts,tsx}'],
    plugins: { 'react-hooks': reactHooks },
    rules: {
      ...reactHooks.configs.recommended.rules,
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            noTfjs,
            {
              group: [
                '**/core/**',
                '!**/core/config.ts',
                '!**/core/errors.ts',
                '!**/core/metrics.ts',
                '!**/core/presets.ts',
                '!**/core/model',
                '**/core/model/*',
                '!**/core/model/hf-files.ts',
                '!**/core/robust',
                '**/core/robust/*',
                '!**/core/robust/types.ts',
                '!**/core/robust/settings.ts',
                // gitignore rules: the folder must be re-included before a file in it can be
                '!**/core/export',
                '**/core/export/*',
                '!**/core/export/torch.ts',
                '!**/core/export/train_alum.py?raw',
              ],
              allowTypeImports: true,
              message:
                'ui may import values only from the pure core modules re-exported by ui/coreConfig.ts (no tfjs); types from the rest.',
            },
            {
              group: ['**/worker/**', '**/cli/**'],
              message: 'ui talks to the worker through protocol messages.',
            },
          ],
        },
      ],
    },
  },
  {
    // The page has one worker, and one module that owns it (README "Layout").
    files: ['src/ui/**/*.{ts,tsx}'],
    ignores: ['src/ui/store/bridge.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          // `new Worker(...)`, `new SharedWorker(...)`, and the same through `window.` / `globalThis.`.
          selector:
            'NewExpression[callee.name=/^(Shared)?Worker$/], NewExpression[callee.property.name=/^(Shared)?Worker$/]',
          message:
            'only src/ui/store/bridge.ts creates the worker: go through the store bridge (connectWorker).',
        },
      ],
    },
  },
  {
    files: ['e2e/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/src/**'],
              allowTypeImports: true,
              message: 'e2e drives the page and window.alum only (types may be imported).',
            },
          ],
        },
      ],
    },
  },
);
