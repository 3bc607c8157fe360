import { randomBytes } from 'node:crypto';
import { type Answer, Receiver } from '../receiver.js';

// A loopback PagerDuty Events API v2 (POST /v2/enqueue): validates the event like PagerDuty (routing key, action,
// dedup_key ≤ 255, payload summary ≤ 1024 / source / severity), keeps alerts by dedup_key with PagerDuty's rules
// (a trigger for an open alert is deduplicated into it, a trigger after a resolve opens a new alert, a resolve
// without an open alert is dropped) and answers 202 {"status":"success","message":"Event processed","dedup_key":…}.

export interface PdEvent {
  routing_key: string;
  event_action: string;
  dedup_key: string;
  payload?: Record<string, any>;
  links?: Array<{ href: string; text?: string }>;
  /** What PagerDuty did with it. */
  outcome: 'opened' | 'deduplicated' | 'resolved' | 'dropped' | 'acknowledged';
  raw: Record<string, any>;
}

export interface PdAlert {
  dedup_key: string;
  status: 'triggered' | 'acknowledged' | 'resolved';
  triggers: number;
  summary: string;
  severity: string;
}

export interface FakePagerDuty {
  url: string;
  events: PdEvent[];
  /** Every alert opened, in order (a dedup_key reused after a resolve opens a second one). */
  alerts: PdAlert[];
  rejections: Array<{ status: number; errors: string[] }>;
  forceNext(...answers: Answer[]): void;
  close(): Promise<void>;
}

const SEVERITIES = ['critical', 'error', 'warning', 'info'];
const json = (status: number, body: unknown): Answer => ({ status, body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });

export async function startFakePagerDuty(opts: { routingKeys: string[] }): Promise<FakePagerDuty> {
  const rx = await new Receiver().start();
  const events: PdEvent[] = [];
  const alerts: PdAlert[] = [];
  const rejections: FakePagerDuty['rejections'] = [];
  const forced: Answer[] = [];
  const invalid = (...errors: string[]) => {
    rejections.push({ status: 400, errors });
    return json(400, { status: 'invalid event', message: 'Event object is invalid', errors });
  };
  rx.respond = (req) => {
    const f = forced.shift();
    if (f) return f;
    if (req.method !== 'POST' || req.path.split('?')[0] !== '/v2/enqueue') return json(404, { status: 'not found', message: 'Not Found' });
    const e = req.body as Record<string, any>;
    if (typeof e !== 'object' || e === null) return invalid('Event object is not valid JSON');
    const errors: string[] = [];
    if (typeof e.routing_key !== 'string' || !e.routing_key) errors.push("'routing_key' is missing or blank");
    else if (e.routing_key.length !== 32) errors.push("Length of 'routing_key' is incorrect (should be 32 characters)");
    else if (!opts.routingKeys.includes(e.routing_key)) errors.push("'routing_key' is not a valid integration key");
    if (!['trigger', 'acknowledge', 'resolve'].includes(e.event_action)) errors.push("'event_action' is invalid (must be one of the following: 'trigger', 'acknowledge' or 'resolve')");
    if (e.dedup_key !== undefined && (typeof e.dedup_key !== 'string' || e.dedup_key.length > 255)) errors.push("'dedup_key' must be a string of at most 255 characters");
    if (e.event_action === 'trigger') {
      const p = e.payload;
      if (typeof p !== 'object' || p === null) errors.push("'payload' is missing or blank");
      else {
        if (typeof p.summary !== 'string' || !p.summary.trim()) errors.push("'payload.summary' is missing or blank");
        else if (p.summary.length > 1024) errors.push("'payload.summary' is too long (must be at most 1024 characters)");
        if (typeof p.source !== 'string' || !p.source.trim()) errors.push("'payload.source' is missing or blank");
        if (!SEVERITIES.includes(p.severity)) errors.push("'payload.severity' is invalid (must be one of the following: 'critical', 'warning', 'error' or 'info')");
        if (p.custom_details !== undefined && (typeof p.custom_details !== 'object' || Array.isArray(p.custom_details))) errors.push("'payload.custom_details' must be an object");
      }
    } else if (typeof e.dedup_key !== 'string' || !e.dedup_key) errors.push("'dedup_key' is missing or blank");
    if (errors.length > 0) return invalid(...errors);

    const key: string = e.dedup_key ?? randomBytes(16).toString('hex');
    const open = [...alerts].reverse().find((a) => a.dedup_key === key && a.status !== 'resolved');
    let outcome: PdEvent['outcome'];
    if (e.event_action === 'trigger') {
      if (open) {
        open.triggers += 1;
        open.summary = e.payload.summary;
        open.severity = e.payload.severity;
        outcome = 'deduplicated';
      } else {
        alerts.push({ dedup_key: key, status: 'triggered', triggers: 1, summary: e.payload.summary, severity: e.payload.severity });
        outcome = 'opened';
      }
    } else if (!open) outcome = 'dropped';
    else if (e.event_action === 'resolve') {
      open.status = 'resolved';
      outcome = 'resolved';
    } else {
      open.status = 'acknowledged';
      outcome = 'acknowledged';
    }
    events.push({ routing_key: e.routing_key, event_action: e.event_action, dedup_key: key, payload: e.payload, links: e.links, outcome, raw: e });
    return json(202, { status: 'success', message: 'Event processed', dedup_key: key });
  };
  return { url: rx.url, events, alerts, rejections, forceNext: (...a) => forced.push(...a), close: () => rx.close() };
}
