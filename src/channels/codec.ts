import { maskSecret, type SecretBox } from '../security/secrets.js';


// Channel configs are stored as JSON with each secret field encrypted, and shown with each secret masked.

export function encodeConfig(type: { secretFields: readonly string[] }, config: Record<string, unknown>, box: SecretBox): string {
  const out: Record<string, unknown> = { ...config };
  for (const f of type.secretFields) {
    const v = out[f];
    if (v === undefined || v === null) continue;
    out[f] = box.encrypt(JSON.stringify(v));
  }
  return JSON.stringify(out);
}

export function decodeConfig(type: { secretFields: readonly string[] }, stored: string, box: SecretBox): Record<string, unknown> {
  const out = JSON.parse(stored) as Record<string, unknown>;
  for (const f of type.secretFields) {
    const v = out[f];
    if (typeof v === 'string') out[f] = JSON.parse(box.decrypt(v));
  }
  return out;
}

/** A URL as shown back: credentials and query values (where tokens usually travel) hidden, the rest kept. */
export function maskUrl(raw: string): string {
  try {
    const u = new URL(raw);
    if (u.password) u.password = '••••';
    for (const k of [...u.searchParams.keys()]) u.searchParams.set(k, '••••');
    return u.toString().replaceAll('%E2%80%A2', '•');
  } catch {
    return '••••';
  }
}

/** For API answers: secrets replaced by a recognisable mask; header values hidden entirely; URLs' tokens hidden. */
export function maskConfig(type: { secretFields: readonly string[] }, config: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config };
  if (typeof out.url === 'string' && !type.secretFields.includes('url')) out.url = maskUrl(out.url);
  for (const f of type.secretFields) {
    const v = out[f];
    if (typeof v === 'string') out[f] = credentialsOnlyUrl(v) ? maskUrl(v) : maskSecret(v);
    else if (Array.isArray(v)) out[f] = v.map((x) => (typeof x === 'string' ? maskSecret(x) : '••••'));
    else if (v && typeof v === 'object') out[f] = Object.fromEntries(Object.keys(v).map((k) => [k, '••••']));
  }
  return out;
}

/** A URL whose only secret is its password (smtp://user:pass@host:587): the rest is worth showing. */
function credentialsOnlyUrl(v: string): boolean {
  try {
    const u = new URL(v);
    return u.password !== '' && (u.pathname === '' || u.pathname === '/') && u.search === '';
  } catch {
    return false;
  }
}
