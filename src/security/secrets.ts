import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

// Secrets at rest (webhook secrets, SMTP passwords, provider tokens): AES-256-GCM, one random IV per value.
// Stored form: "enc:v1:<iv b64>:<tag b64>:<ciphertext b64>".
const PREFIX = 'enc:v1:';

export class SecretBox {
  private readonly key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new Error('the secret key must be 32 bytes');
    this.key = key;
  }

  /** Accepts 64 hex chars or base64 of 32 bytes; any other text is stretched with SHA-256. */
  static fromText(text: string): SecretBox {
    const t = text.trim();
    if (/^[0-9a-fA-F]{64}$/.test(t)) return new SecretBox(Buffer.from(t, 'hex'));
    const b64 = Buffer.from(t, 'base64');
    if (b64.length === 32 && /^[A-Za-z0-9+/]+=*$/.test(t)) return new SecretBox(b64);
    return new SecretBox(createHash('sha256').update(t, 'utf8').digest());
  }

  /** Reads `secret.key` in the data dir, creating it (mode 0600) on first start. */
  static fromKeyFile(dataDir: string): { box: SecretBox; created: boolean; file: string } {
    const file = path.join(dataDir, 'secret.key');
    if (existsSync(file)) return { box: SecretBox.fromText(readFileSync(file, 'utf8')), created: false, file };
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(file, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
    chmodSync(file, 0o600);
    return { box: SecretBox.fromText(readFileSync(file, 'utf8')), created: true, file };
  }

  /** A fingerprint of the key (not the key) so a mismatched key is detected at start, not at first decrypt. */
  fingerprint(): string {
    return createHash('sha256').update('balancewatch-key-check').update(this.key).digest('hex').slice(0, 16);
  }

  encrypt(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return `${PREFIX}${iv.toString('base64')}:${cipher.getAuthTag().toString('base64')}:${data.toString('base64')}`;
  }

  /**
   * Decrypted values by their stored form. Every poll and delivery decrypts its credentials (~40 µs each); the
   * process holds the key and uses these values anyway, so keeping them saves the work without exposing more.
   * The stored form has a random IV, so a changed secret is a new entry.
   */
  private readonly plain = new Map<string, string>();

  decrypt(stored: string): string {
    const hit = this.plain.get(stored);
    if (hit !== undefined) return hit;
    const value = this.decryptUncached(stored);
    if (this.plain.size >= 20_000) this.plain.clear();
    this.plain.set(stored, value);
    return value;
  }

  private decryptUncached(stored: string): string {
    if (!SecretBox.isEncrypted(stored)) throw new Error('value is not encrypted');
    const [iv, tag, data] = stored.slice(PREFIX.length).split(':');
    if (!iv || !tag || data === undefined) throw new Error('encrypted value is malformed');
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64'));
    decipher.setAuthTag(Buffer.from(tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(data, 'base64')), decipher.final()]).toString('utf8');
  }

  static isEncrypted(value: unknown): value is string {
    return typeof value === 'string' && value.startsWith(PREFIX);
  }
}

/** "sk-abcdef123456" → "sk-…3456": enough to recognise a credential, never enough to use it. */
export function maskSecret(value: string): string {
  if (value.length <= 8) return '••••';
  const head = /^[A-Za-z]{1,8}[-_]/.exec(value)?.[0] ?? '';
  return `${head}…${value.slice(-4)}`;
}
