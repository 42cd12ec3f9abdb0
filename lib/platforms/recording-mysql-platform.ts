import type { MysqlEndpoint } from '../engines/mysql/endpoint';
import type { SqlRecorder } from '../engines/mysql/recording-connection';
import type { MysqlPlatform } from './mysql-platform';

/**
 * A platform for the dry-run plan: the real platform (its AWS calls go through a planning
 * gateway that records them), with every administrator endpoint handing out recording SQL
 * connections instead of real ones. The flow's code is the same code `--execute` runs; only
 * the clients underneath record instead of sending.
 *
 * An endpoint that cannot be known before the run (the replica and target do not exist yet;
 * offline nothing is read) becomes a named stand-in; nothing connects to it anyway.
 */
export function recordingMysqlPlatform<P extends MysqlPlatform>(platform: P, recorder: SqlRecorder): P {
  const recorded = (name: string, endpoint: () => Promise<MysqlEndpoint>) => async (): Promise<MysqlEndpoint> => {
    const real = await endpoint().catch(() => undefined);
    // The password never leaves the platform: the recorder sends nothing, so it needs none.
    return { name, host: real?.host ?? recorder.options.values.text(`${name} address`), port: real?.port ?? 3306, user: real?.user ?? 'admin', password: '', tls: real?.tls, recorder };
  };
  const overrides: Partial<MysqlPlatform> = {
    source: () => recorded('source', () => platform.source())(),
    replica: (facts) => recorded('replica', () => platform.replica(facts))(),
    target: (facts) => recorded('target', () => platform.target(facts))(),
    sourceAddressForReplication: () => {
      try {
        return platform.sourceAddressForReplication();
      } catch {
        return { host: recorder.options.values.text('source endpoint address'), port: 3306 };
      }
    },
  };
  if (platform.startCoordinates) {
    const read = platform.startCoordinates.bind(platform);
    // A planning platform cannot read the coordinates (they come from an event of a cluster
    // that does not exist yet): name them as run-time values.
    overrides.startCoordinates = async (context) => {
      const planned = await read(context);
      return {
        file: typeof planned.file === 'string' && !/^<.*>$/.test(planned.file) ? planned.file : recorder.options.values.text('start binlog file from the crash-recovery event'),
        position: Number.isFinite(planned.position) ? planned.position : recorder.options.values.number('start binlog position from the crash-recovery event'),
      };
    };
  }
  return new Proxy(platform, {
    get(target, property, receiver) {
      if (typeof property === 'string' && property in overrides) return overrides[property as keyof MysqlPlatform];
      return Reflect.get(target, property, receiver);
    },
  });
}
