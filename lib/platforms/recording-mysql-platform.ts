import type { MysqlEndpoint } from '../engines/mysql/endpoint';
import type { SqlRecorder } from '../engines/mysql/recording-connection';
import type { EndpointState, MysqlPlatform, MysqlSeeding } from './mysql-platform';

/**
 * A platform for the dry-run plan: the real platform (its AWS calls go through a planning
 * gateway that records them), with every administrator endpoint handing out recording SQL
 * connections instead of real ones. The flow's code is the same code `--execute` runs; only
 * the clients underneath record instead of sending.
 *
 * An endpoint that cannot be known before the run (the replica and target do not exist yet;
 * offline nothing is read) becomes a named stand-in; nothing connects to it anyway.
 *
 * `trafficOn`: a run that continues an earlier one (switch-back, switch-forth, complete) is
 * planned from where that run left the application's endpoint, as the local stand-in is; the
 * switch point's reads are still made (and recorded), their answer is that side.
 */
export function recordingMysqlPlatform<P extends MysqlPlatform>(platform: P, recorder: SqlRecorder, options: { trafficOn?: 'source' | 'target' } = {}): P {
  const recorded = (name: string, endpoint: () => Promise<MysqlEndpoint>) => async (): Promise<MysqlEndpoint> => {
    const real = await endpoint().catch(() => undefined);
    // The password never leaves the platform: the recorder sends nothing, so it needs none.
    return { name, host: real?.host ?? recorder.options.values.text(`${name} address`), port: real?.port ?? 3306, user: real?.user ?? 'admin', password: '', tls: real?.tls, recorder };
  };
  const overrides: { -readonly [K in keyof MysqlPlatform]?: MysqlPlatform[K] } = {
    source: () => recorded('source', () => platform.source())(),
    seeding: recordingSeeding(platform.seeding, recorded, recorder),
    target: (facts) => recorded('target', () => platform.target(facts))(),
    sourceAddressForReplication: () => {
      try {
        return platform.sourceAddressForReplication();
      } catch {
        return { host: recorder.options.values.text('source endpoint address'), port: 3306 };
      }
    },
  };
  const reverse = platform.reverseReplication;
  if (reverse) {
    overrides.reverseReplication = {
      ...reverse,
      targetAddressForReplication: (facts) => {
        try {
          return reverse.targetAddressForReplication(facts);
        } catch {
          return { host: recorder.options.values.text('target endpoint address'), port: 3306 };
        }
      },
    };
  }
  const trafficOn = options.trafficOn;
  if (trafficOn) {
    overrides.endpointTarget = async (context): Promise<EndpointState> => {
      const read = await platform.endpointTarget(context);
      return { pointsTo: trafficOn, detail: `the ${trafficOn}, where the earlier run left it (the plan assumes it; the switch point reads ${read.detail})` };
    };
  }
  return new Proxy(platform, {
    get(target, property, receiver) {
      if (typeof property === 'string' && property in overrides) return overrides[property as keyof MysqlPlatform];
      return Reflect.get(target, property, receiver);
    },
  });
}

/**
 * The seeding for the plan: a temporary replica's endpoint hands out recording connections; a
 * snapshot's start coordinates, which a planning platform cannot read (they come from an event of
 * a cluster that does not exist yet), are named as run-time values.
 */
function recordingSeeding(seeding: MysqlSeeding, recorded: (name: string, endpoint: () => Promise<MysqlEndpoint>) => () => Promise<MysqlEndpoint>, recorder: SqlRecorder): MysqlSeeding {
  switch (seeding.strategy) {
    case 'temporary-replica':
      return withOverrides(seeding, { replica: (facts) => recorded('replica', () => seeding.replica(facts))() });
    case 'source-snapshot':
      return withOverrides(seeding, {
        startCoordinates: async (context) => {
          const planned = await seeding.startCoordinates(context);
          return {
            file: typeof planned.file === 'string' && !/^<.*>$/.test(planned.file) ? planned.file : recorder.options.values.text('start binlog file from the crash-recovery event'),
            position: Number.isFinite(planned.position) ? planned.position : recorder.options.values.number('start binlog position from the crash-recovery event'),
          };
        },
      });
  }
}

/** `target` with some members replaced; every other member is the target's own (its methods run on it). */
function withOverrides<T extends object>(target: T, overrides: Partial<T>): T {
  return new Proxy(target, {
    get(object, property, receiver) {
      if (typeof property === 'string' && property in overrides) return overrides[property as keyof T];
      return Reflect.get(object, property, receiver);
    },
  });
}
