import { consume, eventJson, type Consumer, type EventLog } from '../../src/index.js';

/**
 * The Mail consumer: sends the welcome mail of every registration through the
 * provider, at least once, in order. A failing provider pauses it on that account (backoff,
 * then a circuit breaker that probes slowly) and it resumes when the provider is back: no
 * account is ever skipped. The event id is the idempotency key a real provider would dedupe on.
 */
export function startMailer(log: EventLog, providerUrl: string): Promise<Consumer> {
  return consume(log, {
    name: 'mailer',
    filter: { prefixes: ['user-'], types: ['UserRegistered'] },
    checkpointEvery: 10,
    retry: { initialDelayMs: 10, maxDelayMs: 100, breakerFailures: 5, probeEveryMs: 200 },
    handler: async (event) => {
      const { email, name } = eventJson<{ email: string; name: string }>(event);
      const response = await fetch(providerUrl, {
        method: 'POST',
        body: JSON.stringify({ key: event.id, to: email, subject: `Welcome, ${name}` }),
      });
      if (!response.ok) throw new Error(`provider answered ${response.status} for ${email}`);
    },
  });
}
