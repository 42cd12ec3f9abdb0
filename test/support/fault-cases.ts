/**
 * What the PostgreSQL fault tests share (issue 9: a pooler that dies, a resumed dump): the load's
 * proof read through the application's endpoint. A read only: each test keeps its assertions.
 */
import { closePg, connectPg, pgRows } from '../../lib/engines/postgres/connection';
import type { RehearsalLoad } from '../../lib/rehearsal/rehearsal-load';
import type { Facts } from '../../lib/runbook/step';

/** The PostgreSQL load's writes against what the application's endpoint holds now (acknowledged, lost, …). */
export async function pgWritesThroughEndpoint(endpoint: Parameters<typeof connectPg>[0], load: RehearsalLoad, facts: Facts) {
  const app = await connectPg(endpoint);
  try {
    const present = new Set((await pgRows<{ id: string }>(app, 'SELECT id::text AS id FROM cutover_load')).map((r) => r.id));
    return load.reportFields(present, facts).writes!;
  } finally {
    await closePg(app);
  }
}
