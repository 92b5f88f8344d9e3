// typescript-eslint with type information: floating promises are bugs in a
// server that must answer every request; complexity limits are warnings.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.tap/**', 'coverage/**', 'charts/**'] },
  js.configs.recommended,
  { files: ['**/*.mjs', '**/*.js'], languageOptions: { globals: globals.node } },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/explicit-module-boundary-types': ['error', { allowArgumentsExplicitlyTypedAsAny: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      complexity: ['warn', 20],
      'max-depth': ['warn', 4],
      'max-lines-per-function': ['warn', { max: 120, skipBlankLines: true, skipComments: true }],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
    rules: {
      '@typescript-eslint/explicit-module-boundary-types': 'off',
      'max-lines-per-function': 'off',
      complexity: 'off',
    },
  },
  {
    // npm test counts generated cases only through checkProperty (docs/development.md).
    files: ['test/**/*.ts'],
    ignores: ['test/helpers/property.ts'],
    rules: {
      'no-restricted-properties': [
        'error',
        ...['assert', 'check'].map((property) => ({
          object: 'fc',
          property,
          message: 'Use checkProperty from test/helpers/property.ts, so that npm test counts the cases.',
        })),
      ],
    },
  },
);
