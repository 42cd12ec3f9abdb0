import type { PostgresEndpoint } from '../engines/postgres/endpoint';
import type { PgRecorder } from '../engines/postgres/recording-client';
import type { PostgresPlatform } from './postgres-platform';

/**
 * A platform for the dry-run plan (the PostgreSQL twin of recording-mysql-platform.ts): the
 * real platform (its AWS calls go through a planning gateway that records them), with every
 * administrator endpoint carrying the plan's recorder, so `connectPg` hands out recording
 * clients and the client tools are recorded as command lines. The flow's code, and the
 * platform's own SQL, are the code `--execute` runs; only the clients underneath record.
 *
 * An endpoint that cannot be known before the run (offline nothing is read; the target may
 * not exist yet) becomes a named stand-in; nothing connects to it anyway. Its password is
 * never read for a plan: the recorder sends nothing.
 */
export function recordingPostgresPlatform<P extends PostgresPlatform>(platform: P, recorder: PgRecorder): P {
  const { values } = recorder.options;
  const recorded = async (name: string, database: string, endpoint: () => Promise<PostgresEndpoint>): Promise<PostgresEndpoint> => {
    const real = await endpoint().catch(() => undefined);
    return { name, host: real?.host ?? values.text(`${name} address`), port: real?.port ?? 5432, user: real?.user ?? 'postgres', password: '', database, tls: real?.tls, pgRecorder: recorder };
  };
  const address = (name: string, read: () => Promise<{ host: string; port: number; sslmode: string }>) => read().catch(() => ({ host: values.text(`${name} endpoint address`), port: 5432, sslmode: 'require' }));
  const overrides: { -readonly [K in keyof PostgresPlatform]?: PostgresPlatform[K] } = {
    source: (database) => recorded('source', database, () => platform.source(database)),
    target: (facts, database) => recorded('target', database, () => platform.target(facts, database)),
    sourceForSubscription: (database) => address('source', () => platform.sourceForSubscription(database)),
  };
  return new Proxy(platform, {
    get(target, property, receiver) {
      if (property === 'wayBack') {
        // Read through this proxy: a platform that builds its way back on read (AWS) binds it
        // here, so the way back's own connections are the recording ones above.
        const wayBack = Reflect.get(target, property, receiver) as PostgresPlatform['wayBack'];
        return wayBack && { ...wayBack, targetForSubscription: (database: string) => address('target', () => wayBack.targetForSubscription(database)) };
      }
      if (typeof property === 'string' && property in overrides) return overrides[property as keyof PostgresPlatform];
      return Reflect.get(target, property, receiver);
    },
  });
}
