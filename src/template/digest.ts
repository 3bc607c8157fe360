import type { RenderedMessage, Severity } from '../channels/types.js';
import { escapeHtml, partsToText } from './messages.js';

// A digest: several notifications for one channel sent as one message because the channel is at its service's
// rate limit (SPEC §4: delay and merge, never drop). Each notification keeps its own line (its title), so nothing
// is lost; the channel lays the digest out like any other message.

/** Most notifications merged into one message; the rest wait for the next free slot. Keeps digests under ~4 KB. */
export const MAX_DIGEST_ITEMS = 20;

const RANK: Record<Severity, number> = { resolved: 0, info: 1, warning: 2, critical: 3 };

const STRINGS = {
  en: {
    title: (n: number, worst: string) => `${worst}${n} notifications`,
    summary: (n: number) =>
      `The channel reached its rate limit, so these ${n} notifications were held back and are sent together:`,
  },
  'zh-CN': {
    title: (n: number, worst: string) => `${worst}${n} 条通知`,
    summary: (n: number) => `该渠道达到发送频率上限，以下 ${n} 条通知已合并发送：`,
  },
} as const;

export function renderDigest(items: RenderedMessage[]): RenderedMessage {
  if (items.length === 1) return items[0]!;
  const first = items[0]!;
  const lang = first.lang;
  const s = STRINGS[lang];
  const worst = items.reduce((a, b) => (RANK[b.severity] > RANK[a.severity] ? b : a), first);
  // The worst item's title tag ("[Critical] ", "【严重】") leads the digest's title.
  const tag = /^(\[[^\]]{1,30}\] |【[^】]{1,30}】)/.exec(worst.title)?.[0] ?? '';
  const summary = [s.summary(items.length), ...items.map((m) => `• ${m.title}`)].join('\n');
  const links: RenderedMessage['links'] = [];
  const seen = new Set<string>();
  for (const l of items.flatMap((m) => m.links)) {
    if (seen.has(l.url) || links.length >= 3) continue;
    seen.add(l.url);
    links.push(l);
  }
  const text = partsToText(lang, summary, [], links);
  const html = `<!DOCTYPE html><html><body><h1>${escapeHtml(s.title(items.length, tag))}</h1><p>${escapeHtml(summary).replace(/\n/g, '<br>')}</p></body></html>`;
  return {
    lang,
    title: s.title(items.length, tag),
    text,
    html,
    summary,
    facts: [],
    links,
    color: worst.color,
    severity: worst.severity,
    footer: first.footer,
    custom: false,
    digestOf: items.length,
  };
}
