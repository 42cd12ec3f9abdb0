/**
 * The DNS name applications use, as a CNAME to the live database. The scripts flip the
 * record (Route 53 UPSERT) at switch time; the record's *value* therefore belongs to the
 * scripts after the first deploy (`ignore_changes = [records]`), so a later deploy cannot
 * point traffic back at the old database. Name, type, TTL and zone stay managed here.
 */
import { Construct, Route53Record, Route53Zone } from '../aws';
import { check } from './validation';

export type CutoverDnsZone = { readonly existingZoneId: string } | { readonly privateZoneName: string; readonly vpcId: string };

export interface CutoverDnsRecordProps {
  readonly zone: CutoverDnsZone;
  /** Fully qualified name applications connect to. */
  readonly recordName: string;
  /** Endpoint of the database that is live at first deploy. */
  readonly initialTarget: string;
  /** @default 15 - seconds; short so clients follow the switch quickly */
  readonly ttlSeconds?: number;
}

export class CutoverDnsRecord extends Construct {
  readonly zoneId: string;
  readonly zone?: Route53Zone;
  readonly record: Route53Record;

  constructor(scope: Construct, id: string, props: CutoverDnsRecordProps) {
    super(scope, id);
    const { zone, recordName, initialTarget, ttlSeconds = 15 } = props;
    check(Number.isInteger(ttlSeconds) && ttlSeconds >= 1 && ttlSeconds <= 300, this, 'ttlSeconds', ttlSeconds, 'a whole number of seconds from 1 to 300 (the switch waits for clients to follow)');
    check(initialTarget.length > 0 && initialTarget !== recordName, this, 'initialTarget', initialTarget, 'the current database endpoint, not the record itself');

    if ('existingZoneId' in zone) {
      this.zoneId = zone.existingZoneId;
    } else {
      check(recordName.replace(/\.$/, '').endsWith(`.${zone.privateZoneName.replace(/\.$/, '')}`), this, 'recordName', recordName, `a name inside the zone "${zone.privateZoneName}"`);
      this.zone = new Route53Zone(this, 'zone', {
        name: zone.privateZoneName,
        comment: 'rds-cutover switch point',
        vpc: [{ vpcId: zone.vpcId }],
      });
      this.zoneId = this.zone.zoneId;
    }

    this.record = new Route53Record(this, 'record', {
      zoneId: this.zoneId,
      name: recordName,
      type: 'CNAME',
      ttl: ttlSeconds,
      records: [initialTarget],
      lifecycle: { ignoreChanges: ['records'] },
    });
  }
}
