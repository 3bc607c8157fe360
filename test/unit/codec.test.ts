import { describe, expect, it } from 'vitest';
import { decodeConfig, encodeConfig, maskConfig, maskUrl } from '../../src/channels/codec.js';
import { webhookChannel } from '../../src/channels/webhook.js';
import { SecretBox } from '../../src/security/secrets.js';

const box = SecretBox.fromText('unit-test-key-unit-test-key-1234');

describe('channel config at rest and in answers', () => {
  const config = { url: 'https://u:pw@hooks.example.com/in?token=abc123&x=1', secret: 'whsec_abcdef123456', headers: { Authorization: 'Bearer TOP' } };

  it('encrypts secret fields and decodes them back', () => {
    const stored = encodeConfig(webhookChannel, config, box);
    expect(stored).not.toContain('whsec_abcdef123456');
    expect(stored).not.toContain('Bearer TOP');
    expect(decodeConfig(webhookChannel, stored, box)).toEqual(config);
    expect(() => decodeConfig(webhookChannel, stored, SecretBox.fromText('another-key-another-key-1234567'))).toThrow();
  });

  it('masks secrets, header values and URL credentials and query values', () => {
    const masked = maskConfig(webhookChannel, config);
    expect(masked).toEqual({
      url: 'https://u:••••@hooks.example.com/in?token=••••&x=••••',
      secret: 'whsec_…3456',
      headers: { Authorization: '••••' },
    });
  });

  it.each([
    ['https://example.com/hook', 'https://example.com/hook'],
    ['http://127.0.0.1:9000/a/b', 'http://127.0.0.1:9000/a/b'],
    ['not a url', '••••'],
  ])('maskUrl(%s)', (input, out) => expect(maskUrl(input)).toBe(out));
});
