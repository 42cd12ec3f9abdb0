/**
 * Headless Chromium (Debian's package) driven over the DevTools protocol, for tests that must
 * see a page as a browser renders it. Started in its own process group with a fresh profile
 * folder; close() kills the group and removes the folder, so nothing is left behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { ensureDebianPackages, CHROMIUM_REQUIREMENTS } from '../../lib/platforms/local/debian-packages';
import type { Logger } from '../../lib/util/log';

export const CHROMIUM = '/usr/bin/chromium';

/**
 * Installs Chromium the way the sandbox installs its servers (apt-get as root). Returns why it
 * cannot run (not root and not installed), for the test to skip with that message.
 */
export function chromiumUnavailable(log: Logger): string | undefined {
  try {
    ensureDebianPackages(CHROMIUM_REQUIREMENTS, log);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

export interface BrowserEvents {
  consoleErrors: string[];
  requests: string[];
}

/** The flags from the machine notes: no sandbox (root), no GPU, no background traffic. */
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage', '--remote-debugging-port=0', '--remote-allow-origins=*'];

export class HeadlessChromium {
  private constructor(private readonly child: ChildProcess, readonly profileDir: string, private readonly socket: WebSocket, readonly events: BrowserEvents) {}

  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (value: any) => void; reject: (error: Error) => void }>();
  private readonly listeners: Array<(method: string, params: any) => void> = [];

  static async launch(): Promise<HeadlessChromium> {
    const profileDir = mkdtempSync(join(tmpdir(), 'rc-chromium-'));
    const child = spawn(CHROMIUM, [...FLAGS, `--user-data-dir=${profileDir}`, 'about:blank'], { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    let browserUrl: string;
    try {
      browserUrl = await new Promise<string>((resolve, reject) => {
        let stderr = '';
        const timer = setTimeout(() => reject(new Error(`Chromium did not open its DevTools port within 60 s; it said:\n${stderr.slice(-2000)}`)), 60000);
        child.stderr!.on('data', (chunk: Buffer) => {
          stderr += chunk.toString();
          const match = /DevTools listening on (ws:\/\/\S+)/.exec(stderr);
          if (match) {
            clearTimeout(timer);
            resolve(match[1]);
          }
        });
        child.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`Chromium exited (${code}) before opening its DevTools port:\n${stderr.slice(-2000)}`));
        });
      });
    } catch (error) {
      killGroup(child);
      rmSync(profileDir, { recursive: true, force: true });
      throw error;
    }
    // The page target (about:blank) is listed over HTTP on the same port.
    const port = new URL(browserUrl).port;
    const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{ type: string; webSocketDebuggerUrl: string }>;
    const page = targets.find((t) => t.type === 'page');
    if (!page) throw new Error(`Chromium has no page target: ${JSON.stringify(targets)}`);
    const socket = new WebSocket(page.webSocketDebuggerUrl, { perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    const browser = new HeadlessChromium(child, profileDir, socket, { consoleErrors: [], requests: [] });
    socket.on('message', (data) => browser.onMessage(JSON.parse(data.toString())));
    browser.listeners.push((method, params) => {
      if (method === 'Runtime.consoleAPICalled' && (params.type === 'error' || params.type === 'assert')) browser.events.consoleErrors.push(params.args.map((a: any) => a.value ?? a.description).join(' '));
      if (method === 'Runtime.exceptionThrown') browser.events.consoleErrors.push(params.exceptionDetails.exception?.description ?? params.exceptionDetails.text);
      if (method === 'Log.entryAdded' && params.entry.level === 'error') browser.events.consoleErrors.push(`${params.entry.source}: ${params.entry.text}`);
      if (method === 'Network.requestWillBeSent') browser.events.requests.push(params.request.url);
    });
    await Promise.all(['Runtime.enable', 'Log.enable', 'Network.enable', 'Page.enable'].map((method) => browser.send(method)));
    return browser;
  }

  private onMessage(message: { id?: number; result?: unknown; error?: { message: string }; method?: string; params?: unknown }): void {
    if (message.id !== undefined) {
      const waiter = this.pending.get(message.id);
      this.pending.delete(message.id);
      if (message.error) waiter?.reject(new Error(message.error.message));
      else waiter?.resolve(message.result);
    } else if (message.method) {
      for (const listener of this.listeners) listener(message.method, message.params);
    }
  }

  send<T = any>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.socket.send(JSON.stringify({ id, method, params }));
    });
  }

  /** Navigate and wait for the load event. */
  async open(url: string, viewport: { width: number; height: number }): Promise<void> {
    await this.send('Emulation.setDeviceMetricsOverride', { width: viewport.width, height: viewport.height, deviceScaleFactor: 1, mobile: false });
    const loaded = new Promise<void>((resolve) => this.listeners.push((method) => method === 'Page.loadEventFired' && resolve()));
    await this.send('Page.navigate', { url });
    await loaded;
  }

  /** Evaluate an expression in the page and return its (JSON) value. */
  async evaluate<T>(expression: string): Promise<T> {
    const result = await this.send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true });
    if (result.exceptionDetails) throw new Error(`page threw: ${result.exceptionDetails.exception?.description ?? result.exceptionDetails.text}`);
    return result.result.value as T;
  }

  /** A PNG of the whole page (not just the viewport). */
  async screenshot(): Promise<Buffer> {
    const metrics = await this.send('Page.getLayoutMetrics');
    const { width, height } = metrics.cssContentSize;
    const result = await this.send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true, clip: { x: 0, y: 0, width, height, scale: 1 } });
    return Buffer.from(result.data, 'base64');
  }

  /** Kill Chromium's whole process group, wait for it, and remove the profile folder. */
  async close(): Promise<void> {
    this.socket.terminate();
    const exited = this.child.exitCode !== null || this.child.signalCode !== null ? Promise.resolve() : new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    killGroup(this.child);
    await exited;
    rmSync(this.profileDir, { recursive: true, force: true });
    if (existsSync(this.profileDir)) throw new Error(`could not remove ${this.profileDir}`);
  }
}

function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // already gone
  }
}
