import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { buildPlanDocument, PLAN_FORMATS, renderJson, renderMarkdown, type DocumentSettings, type PlanDocument, type PlanFormat } from '../plan/plan-document';
import type { RecordedPlan } from '../runbook/plan-recording';

/**
 * The CLI's plan-output flags, kept out of the argument parser proper:
 *   --plan-format text|markdown|json   how the dry run writes its plan (default text)
 *   --plan-out FILE                    write the markdown/json document to FILE instead of stdout
 *   --rehearsal-report FILE            a rehearsal's report.json: its measured switch figures go next to the expected downtime
 */
export const PLAN_OUTPUT_OPTIONS = {
  'plan-format': { type: 'string', default: 'text' },
  'plan-out': { type: 'string' },
  'rehearsal-report': { type: 'string' },
} as const;

export interface PlanOutputArgs {
  planFormat: PlanFormat;
  planOut?: string;
  rehearsalReport?: string;
}

/** Checked with the other arguments: a bad value stops before anything starts. */
export function planOutputArgs(values: Record<string, unknown>, fail: (message: string) => Error): PlanOutputArgs {
  const raw = String(values['plan-format'] ?? 'text');
  const format = raw === 'md' ? 'markdown' : raw;
  if (!PLAN_FORMATS.includes(format as PlanFormat)) throw fail(`--plan-format ${raw} is unknown: expected one of ${PLAN_FORMATS.join(', ')} (md = markdown)`);
  if (values['plan-out'] !== undefined && format === 'text') throw fail('--plan-out writes the markdown or json document: add --plan-format markdown (or json)');
  return { planFormat: format as PlanFormat, planOut: values['plan-out'] as string | undefined, rehearsalReport: values['rehearsal-report'] as string | undefined };
}

/**
 * Write the plan document when a document format was asked for. Returns the document (the
 * text plan uses it too), and whether the plan went to stdout (then nothing else may).
 */
export function planDocumentOutput(recorded: RecordedPlan, settings: DocumentSettings, args: PlanOutputArgs, out: (line: string) => void): { document: PlanDocument; wroteToStdout: boolean; file?: string } {
  const document = buildPlanDocument(recorded, { ...settings, rehearsalReport: args.rehearsalReport ? resolve(args.rehearsalReport) : undefined });
  if (args.planFormat === 'text') return { document, wroteToStdout: false };
  const text = args.planFormat === 'json' ? renderJson(document) : renderMarkdown(document);
  if (args.planOut) {
    const file = resolve(args.planOut);
    writeFileSync(file, text.endsWith('\n') ? text : `${text}\n`);
    return { document, wroteToStdout: false, file };
  }
  out(text);
  return { document, wroteToStdout: true };
}
