// ESLint (flat config), run by `npm run lint` and by `npm test` right after the type-check.
// Warnings fail the run (`--max-warnings 0`), so every rule here is an error or off.
// Not type-aware on purpose: `tsc -p .` already runs in `npm test`, and this stays a few seconds
// (typescript-eslint's type-checked presets take ~5x longer and mostly flag node:test's `test()`).
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  globalIgnores(['dist/', 'node_modules/', '.cache/', 'artifacts/', '**/*.vsix']),

  js.configs.recommended,
  tseslint.configs.recommended,

  {
    // src/, sidecar/, cli/, bench/, test/ (TypeScript) and the plain Node ES modules
    // (esbuild.mjs, scripts/*.mjs, this file).
    files: ['**/*.ts', '**/*.mjs'],
    languageOptions: { globals: globals.node, sourceType: 'module' },
    plugins: { 'import-x': importX },
    settings: {
      // Imports are extensionless relative paths (tsconfig: moduleResolution "bundler", no `paths`),
      // so the Node resolver with .ts added resolves every local module; no TypeScript resolver needed.
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.mjs', '.js', '.json', '.node'] })],
      'import-x/extensions': ['.ts', '.mjs', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts', '.mjs'] },
    },
    rules: {
      // No cycle among the project's modules. The rule skips `import type` edges (erased at run
      // time), so it guards the run-time module graph; consistent-type-imports below keeps that
      // marking honest. Packages in node_modules are not followed.
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],

      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          ignoreRestSiblings: true,
        },
      ],
      eqeqeq: ['error', 'always', { null: 'ignore' }],

      // Off as noise for this codebase:
      // - protocol.ts declares each request as `export namespace XRequest { method; type }`, the
      //   idiom of vscode-languageserver-protocol, on which the whole protocol is built.
      '@typescript-eslint/no-namespace': 'off',
      // - a terminal product: matching ESC (\x1b) and BEL (\x07) in ANSI/OSC sequences is the point
      //   of those regular expressions (scrollback, shell markers, terminal tests), never a typo.
      'no-control-regex': 'off',
    },
  },
);
