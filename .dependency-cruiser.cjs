/**
 * The walls between layers (shared/STYLE.md "Walls"), held by test/architecture/walls.test.ts:
 * npx depcruise --config .dependency-cruiser.cjs lib scripts stacks main.ts
 */
module.exports = {
  forbidden: [
    {
      name: 'lib-never-loads-stacks-or-cdktf',
      comment: 'The runtime reads the stacks\' outputs as data (lib/infra/outputs.ts); it never loads cdktf or the stacks.',
      severity: 'error',
      from: { path: '^lib/' },
      to: { path: ['^stacks/', '(^|/)node_modules/(cdktf|@cdktf/|constructs)(/|$)'] },
    },
    {
      name: 'flows-never-import-the-aws-sdk-or-a-platform',
      comment: 'A flow talks to the platform interface (lib/platforms/*-platform.ts), never to an implementation or the SDK.',
      severity: 'error',
      from: { path: '^lib/flows/' },
      to: { path: ['^lib/platforms/[^/]+/', '(^|/)node_modules/@aws-sdk/'] },
    },
    {
      name: 'platforms-never-import-flows',
      comment: 'A platform serves every flow through its interface; what a flow is configured with lives beside that interface (lib/platforms/*-platform.ts), not in the flow.',
      severity: 'error',
      from: { path: '^lib/platforms/' },
      to: { path: '^lib/flows/' },
    },
    {
      name: 'engines-never-import-platforms-or-flows',
      comment: 'Engines (SQL of one database family) know nothing about where servers live or which flow runs.',
      severity: 'error',
      from: { path: '^lib/engines/' },
      to: { path: ['^lib/platforms/', '^lib/flows/'] },
    },
    {
      name: 'no-import-cycles',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
