/**
 * An HTTP proxy in front of the local S3-compatible server that holds the requests a test picks
 * (never forwards them, never answers): an S3 that stops answering in the middle of a run, for
 * tests of what a run says and does then. Everything else is forwarded as is.
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export class HoldingS3Proxy {
  /** Requests held so far, as "METHOD path". */
  readonly held: string[] = [];
  private readonly waiting: ServerResponse[] = [];
  private server?: Server;

  constructor(
    private readonly upstream: string,
    private readonly hold: (method: string, path: string) => boolean,
  ) {}

  async start(): Promise<string> {
    const target = new URL(this.upstream);
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      if (this.hold(req.method ?? '', req.url ?? '')) {
        this.held.push(`${req.method} ${req.url}`);
        this.waiting.push(res);
        req.resume();
        return;
      }
      const forward = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      forward.once('error', () => res.destroy());
      req.pipe(forward);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  async stop(): Promise<void> {
    for (const res of this.waiting) res.destroy();
    this.server?.closeAllConnections();
    await new Promise((resolve) => (this.server ? this.server.close(resolve) : resolve(undefined)));
  }
}
