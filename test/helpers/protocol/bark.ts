import { type Answer, Receiver, type Received } from '../receiver.js';

// A loopback Bark server (Finb/bark-server API v2): POST /push with a JSON body, optional Basic auth that answers
// "418 I'm a teapot" to a wrong user or password, device keys looked up in its "database", APNs' 4096-byte payload
// limit, and the server's real bodies ({"code":200,"message":"success","timestamp":…}).

export interface BarkPush {
  deviceKey: string;
  title: string;
  body: string;
  /** As the server stores it: ".caf" appended when missing. */
  sound?: string;
  payload: Record<string, any>;
  headers: Received['headers'];
}

export interface FakeBark {
  url: string;
  pushes: BarkPush[];
  /** Requests refused, with why. */
  rejections: Array<{ status: number; reason: string }>;
  /** Answer the next request(s) with this instead of processing them. */
  forceNext(...answers: Answer[]): void;
  close(): Promise<void>;
}

const LEVELS = new Set(['active', 'timeSensitive', 'passive', 'critical']);
const json = (status: number, body: unknown): Answer => ({ status, body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
const failed = (status: number, message: string) => json(status, { code: status, message, timestamp: Math.floor(Date.now() / 1000) });

export async function startFakeBark(opts: { deviceKeys: string[]; username?: string; password?: string }): Promise<FakeBark> {
  const rx = await new Receiver().start();
  const pushes: BarkPush[] = [];
  const rejections: FakeBark['rejections'] = [];
  const forced: Answer[] = [];
  const reject = (a: Answer, reason: string) => {
    rejections.push({ status: a.status, reason });
    return a;
  };
  rx.respond = (req) => {
    const f = forced.shift();
    if (f) return f;
    if (opts.username) {
      const expected = `Basic ${Buffer.from(`${opts.username}:${opts.password ?? ''}`).toString('base64')}`;
      // bark-server's basicauth middleware: every route but /ping, /register and /healthz.
      if (req.headers.authorization !== expected) return reject({ status: 418, body: "I'm a teapot" }, 'basic auth');
    }
    if (req.method !== 'POST' || req.path.split('?')[0] !== '/push') return reject({ status: 404, body: `Cannot ${req.method} ${req.path}` }, 'route');
    if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) return reject(failed(400, 'device key is empty'), 'not JSON (v1 handler)');
    if (typeof req.body !== 'object' || req.body === null) return reject(failed(400, 'request bind failed: invalid character'), 'bad JSON');
    const p = req.body as Record<string, any>;
    const key = p.device_key;
    if (typeof key !== 'string' || !key) return reject(failed(400, 'device key is empty'), 'no device key');
    if (!opts.deviceKeys.includes(key)) return reject(failed(400, `failed to get device token: failed to get [${key}] device token from database`), 'unknown device');
    if (typeof p.title !== 'string' || typeof p.body !== 'string') return reject(failed(400, 'request bind failed: title and body must be strings'), 'fields');
    if (p.level !== undefined && !LEVELS.has(p.level)) return reject(failed(400, `invalid level ${String(p.level)}`), 'level');
    if (p.volume !== undefined && !(Number.isInteger(p.volume) && p.volume >= 0 && p.volume <= 10)) return reject(failed(400, 'invalid volume'), 'volume');
    // What bark-server hands to APNs: the alert plus every extra parameter.
    const { device_key: _k, title, body, ...ext } = p;
    const apns = JSON.stringify({ aps: { alert: { title, body }, sound: p.sound ?? '1107', category: 'myNotificationCategory', 'mutable-content': 1 }, ...ext });
    if (Buffer.byteLength(apns) > 4096) return reject(failed(500, 'push failed: Payload Too Large'), 'payload over 4096 bytes');
    const sound = typeof p.sound === 'string' ? (p.sound.endsWith('.caf') ? p.sound : `${p.sound}.caf`) : undefined;
    pushes.push({ deviceKey: key, title: p.title, body: p.body, sound, payload: p, headers: req.headers });
    return json(200, { code: 200, message: 'success', timestamp: Math.floor(Date.now() / 1000) });
  };
  return {
    url: rx.url,
    pushes,
    rejections,
    forceNext: (...a) => forced.push(...a),
    close: () => rx.close(),
  };
}
