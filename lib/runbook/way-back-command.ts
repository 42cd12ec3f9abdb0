/**
 * The way-back commands (`switch-back RUN_ID`, `switch-forth RUN_ID`, `complete RUN_ID`), both
 * engines: what the CLI parses and what each engine's flow module builds a runbook for. A leaf
 * (no imports, outside lib/flows so that parsing arguments loads no flow), shared by the argument
 * parser and both engines' flows without either depending on the other.
 */
export const WAY_BACK_COMMANDS = ['switch-back', 'switch-forth', 'complete'] as const;

export type WayBackCommand = (typeof WAY_BACK_COMMANDS)[number];

export function isWayBackCommand(value: string | undefined): value is WayBackCommand {
  return (WAY_BACK_COMMANDS as readonly string[]).includes(value ?? '');
}
