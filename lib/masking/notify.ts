import { redact } from '../util/secrets';

/**
 * Post a message to a Slack incoming webhook (https://api.slack.com/messaging/webhooks):
 * a POST of {"text": …} as JSON. The URL contains a token, so it comes from an env var,
 * is registered as a secret by the caller, and never appears in messages.
 */
export async function notifySlack(webhookUrl: string, text: string, options: { timeoutMs?: number } = {}): Promise<void> {
  const response = await fetch(webhookUrl, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ text: redact(text) }),
    signal: AbortSignal.timeout(options.timeoutMs ?? 10000),
  });
  if (!response.ok) throw new Error(`Slack webhook answered ${response.status} ${response.statusText}: ${redact(await response.text()).slice(0, 200)}`);
}
