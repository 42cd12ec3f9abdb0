import { readFileSync } from 'node:fs';

/**
 * TLS for an administrator connection (RDS/Aurora). Absent on an endpoint: no TLS at all,
 * which is what the local sandbox servers on loopback use.
 */
export interface EndpointTls {
  /**
   * PEM file of the certificate authorities to trust, e.g. the RDS global bundle
   * (https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem).
   * @default - Node's built-in CAs plus NODE_EXTRA_CA_CERTS (libpq tools: the system bundle);
   *   the RDS CAs are in neither, so an RDS connection needs this file or NODE_EXTRA_CA_CERTS
   */
  readonly caFile?: string;
  /** Refuse a certificate that does not chain to a trusted CA (and, where possible, names another host). @default true */
  readonly rejectUnauthorized?: boolean;
  /**
   * Name the certificate must carry when `host` is a tunnel's address (the RDS endpoint's
   * DNS name). @default - the endpoint's host
   */
  readonly serverName?: string;
}

/** Where Debian (and most Linux distributions) keep the system's CA bundle, for libpq tools. */
export const SYSTEM_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

/** Certificate verification is on unless switched off explicitly. */
export function verifiesCertificate(tls: EndpointTls): boolean {
  return tls.rejectUnauthorized !== false;
}

/** The CA file's PEM text; a missing or unreadable file names itself and how to get the RDS bundle. */
export function readCaFile(caFile: string): string {
  try {
    return readFileSync(caFile, 'utf8');
  } catch (error) {
    throw new Error(
      `TLS CA file ${caFile} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): ` +
        'download the RDS global bundle (curl -o global-bundle.pem https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem) and point aws.tlsCaFile at it',
    );
  }
}
