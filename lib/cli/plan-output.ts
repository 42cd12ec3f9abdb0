import { writeFileSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { PROJECT_ROOT } from '../util/project-root';
import { buildPlanDocument, renderJson, renderMarkdown, type DocumentSettings, type PlanDocument, type PlanFormat } from '../plan/plan-document';
import type { RecordedPlan } from '../runbook/plan-recording';

/** A file inside the project named from its root (a committed plan carries no author's home folder); others as absolute paths. */
function shownPath(absolute: string): string {
  const inside = relative(PROJECT_ROOT, absolute);
  return inside && !inside.startsWith('..') && !isAbsolute(inside) ? inside : absolute;
}

/** The plan-output flags as parsed by args.ts (--plan-format, --plan-out, --rehearsal-report). */
export interface PlanOutputArgs {
  planFormat: PlanFormat;
  planOut?: string;
  rehearsalReport?: string;
}

/**
 * Write the plan document when a document format was asked for. Returns the document (the
 * text plan uses it too), and whether the plan went to stdout (then nothing else may).
 */
export function planDocumentOutput(recorded: RecordedPlan, settings: DocumentSettings, args: PlanOutputArgs, out: (line: string) => void): { document: PlanDocument; wroteToStdout: boolean; file?: string } {
  const document = buildPlanDocument(recorded, { ...settings, rehearsalReport: args.rehearsalReport ? resolve(args.rehearsalReport) : undefined, rehearsalReportLabel: args.rehearsalReport ? shownPath(resolve(args.rehearsalReport)) : undefined });
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
