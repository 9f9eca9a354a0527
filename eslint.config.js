// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The layer order of DESIGN.md "Layout", for editors: a file may import its own layer and those
 * below it. scripts/check-layers.ts (in `npm run lint`) enforces the same rule on the whole tree,
 * cycles included; this only makes an offending import show where it is written.
 */
const LAYERS = [
  ['diagnostics'],
  ['etcd'],
  ['session'],
  ['queue'],
  ['mutex', 'election', 'barrier', 'semaphore', 'stm', 'queue-recipes'],
  ['cli'],
];
const PRIMITIVES = LAYERS[4];
const ENTRY_POINTS = ['index.js', 'testing.js', 'testing/*'];

/** no-restricted-imports for the files of `folder` (at `rank`), as seen from `up` ('../' or './'). */
function layerRule(files, rank, folder, up) {
  const above = LAYERS.slice(rank + 1).flat();
  const siblings = folder && PRIMITIVES.includes(folder) ? PRIMITIVES.filter((p) => p !== folder) : [];
  const patterns = [];
  if (above.length > 0) {
    patterns.push({
      group: above.map((f) => `${up}${f}/*`),
      message: 'A layer may only import the layers below it (DESIGN.md "Layout"): move what both need down.',
    });
  }
  if (siblings.length > 0) {
    patterns.push({
      group: siblings.map((f) => `${up}${f}/*`),
      message:
        "A primitive may not import another primitive's internals: what they share belongs in src/queue/.",
    });
  }
  patterns.push({
    group: ENTRY_POINTS.map((f) => `${up}${f}`),
    message: 'Nothing in src/ imports the public entry points or the test harness.',
  });
  return { files, rules: { 'no-restricted-imports': ['error', { patterns }] } };
}

const layerRules = [
  layerRule(['src/errors.ts'], 0, undefined, './'),
  ...LAYERS.flatMap((folders, rank) =>
    folders.map((folder) => layerRule([`src/${folder}/**/*.ts`], rank, folder, '../')),
  ),
];

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'bench/results/', 'docs/api/'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-unnecessary-condition': 'off',
      // noUncheckedIndexedAccess makes `arr[i]!` after a bounds check the honest idiom.
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
      '@typescript-eslint/unified-signatures': 'off',
    },
  },
  ...layerRules,
  {
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
  },
);
