// One linter for the whole repo. Folder rules keep the layers apart (see README "Layout"):
// core -> only tfjs; protocol -> nothing at runtime; worker -> core + protocol; ui -> protocol + types of core.
import js from '@eslint/js';
import reactHooks from 'eslint-plugin-react-hooks';
import tseslint from 'typescript-eslint';

const noTfjs = {
  group: ['@tensorflow/*'],
  message: 'The UI never imports tfjs: tensors live in the worker.',
};

export default tseslint.config(
  { ignores: ['dist', 'node_modules', 'public', 'playwright-report', 'test-results', 'runs'] },
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
              group: ['**/core/**', '!**/core/config.ts'],
              allowTypeImports: true,
              message: 'ui may import values only from core/config.ts (pure data); types from the rest.',
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
