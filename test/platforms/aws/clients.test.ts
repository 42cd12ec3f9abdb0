/**
 * Real SDK clients (no mocks) against an HTTP server on loopback: AWS_ENDPOINT_URL and the
 * per-service variables are honoured by the clients we build, and a dry run's read-only guard
 * stops a mutating command before anything is sent.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateDBSnapshotCommand, DescribeDBInstancesCommand } from '@aws-sdk/client-rds';
import { ListResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import { createAwsClients, destroyClients, isReadOnlyCommand, ReadOnlyViolation } from '../../../lib/platforms/aws/clients';

interface Received {
  method: string;
  url: string;
  body: string;
}

async function fakeAws(respond: (request: Received) => { type: string; body: string }): Promise<{ url: string; received: Received[]; server: Server }> {
  const received: Received[] = [];
  const server = createServer((request: IncomingMessage, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      const entry = { method: request.method ?? '', url: request.url ?? '', body };
      received.push(entry);
      const answer = respond(entry);
      response.writeHead(200, { 'content-type': answer.type });
      response.end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received, server };
}

const RDS_DESCRIBE = `<DescribeDBInstancesResponse xmlns="http://rds.amazonaws.com/doc/2014-10-31/"><DescribeDBInstancesResult><DBInstances><DBInstance><DBInstanceIdentifier>orders</DBInstanceIdentifier><DBInstanceStatus>available</DBInstanceStatus></DBInstance></DBInstances></DescribeDBInstancesResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></DescribeDBInstancesResponse>`;
const ROUTE53_LIST = `<?xml version="1.0"?><ListResourceRecordSetsResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ResourceRecordSets></ResourceRecordSets><IsTruncated>false</IsTruncated><MaxItems>1</MaxItems></ListResourceRecordSetsResponse>`;

const saved = { ...process.env };
const servers: Server[] = [];
beforeEach(() => {
  for (const key of Object.keys(process.env)) if (key.startsWith('AWS_')) delete process.env[key];
  process.env.AWS_ACCESS_KEY_ID = 'AKIDLOCALTEST';
  process.env.AWS_SECRET_ACCESS_KEY = 'local-test-secret';
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
  process.env.AWS_CONFIG_FILE = '/nonexistent/aws-config';
  process.env.AWS_SHARED_CREDENTIALS_FILE = '/nonexistent/aws-credentials';
});
afterEach(async () => {
  process.env = { ...saved };
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

test('GIVEN AWS_ENDPOINT_URL WHEN a client we built calls RDS THEN the request arrives at that endpoint', async () => {
  const fake = await fakeAws(() => ({ type: 'text/xml', body: RDS_DESCRIBE }));
  servers.push(fake.server);
  process.env.AWS_ENDPOINT_URL = fake.url;
  const clients = createAwsClients({ region: 'eu-west-1' }, { readOnly: false });
  try {
    const output = await clients.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'orders' }));
    expect(output.DBInstances?.[0]?.DBInstanceStatus).toBe('available');
    expect(fake.received).toHaveLength(1);
    expect(fake.received[0].body).toContain('Action=DescribeDBInstances');
    expect(fake.received[0].body).toContain('DBInstanceIdentifier=orders');
  } finally {
    destroyClients(clients);
  }
});

test('GIVEN a per-service AWS_ENDPOINT_URL_ROUTE_53 THEN Route 53 goes there while RDS follows AWS_ENDPOINT_URL', async () => {
  const general = await fakeAws(() => ({ type: 'text/xml', body: RDS_DESCRIBE }));
  const route53 = await fakeAws(() => ({ type: 'text/xml', body: ROUTE53_LIST }));
  servers.push(general.server, route53.server);
  process.env.AWS_ENDPOINT_URL = general.url;
  process.env.AWS_ENDPOINT_URL_ROUTE_53 = route53.url;
  const clients = createAwsClients({ region: 'eu-west-1' }, { readOnly: true });
  try {
    await clients.route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: 'Z0123456789ABC', StartRecordName: 'db.example.com', MaxItems: 1 }));
    await clients.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'orders' }));
    expect(route53.received.map((r) => r.url)).toEqual([expect.stringContaining('/2013-04-01/hostedzone/Z0123456789ABC/rrset')]);
    expect(general.received.map((r) => r.body)).toEqual([expect.stringContaining('Action=DescribeDBInstances')]);
  } finally {
    destroyClients(clients);
  }
});

test('GIVEN read-only clients (dry run) WHEN a mutating command is sent THEN it is refused before it reaches the endpoint', async () => {
  const fake = await fakeAws(() => ({ type: 'text/xml', body: RDS_DESCRIBE }));
  servers.push(fake.server);
  process.env.AWS_ENDPOINT_URL = fake.url;
  const clients = createAwsClients({ region: 'eu-west-1' }, { readOnly: true });
  try {
    await expect(clients.rds.send(new CreateDBSnapshotCommand({ DBInstanceIdentifier: 'orders', DBSnapshotIdentifier: 'x' }))).rejects.toBeInstanceOf(ReadOnlyViolation);
    expect(fake.received).toHaveLength(0);
    await clients.rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'orders' }));
    expect(fake.received).toHaveLength(1);
  } finally {
    destroyClients(clients);
  }
});

test('read-only means Describe*, List* and Get* only', () => {
  expect(['DescribeDBInstances', 'ListResourceRecordSets', 'GetChange', 'GetSecretValue', 'GetCallerIdentityCommand'].every(isReadOnlyCommand)).toBe(true);
  expect(['CreateDBSnapshot', 'ModifyDBInstance', 'ChangeResourceRecordSets', 'UpdateService', 'Describe', 'Getaway', 'DeleteDBSnapshot'].some(isReadOnlyCommand)).toBe(false);
});
