import { useEffect, useRef } from 'react';
import { useTranslation } from 'react-i18next';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { formatMoney } from '../format';
import { loose } from '../i18n';
import type { History } from '../types';

// The account's balance over time (uPlot): the samples, a dashed forecast from the newest sample to zero at the
// current spend rate, and a dashed horizontal line per alert level.

const LEVEL_COLORS: Record<string, string> = {
  info: '#2563eb',
  warning: '#b45309',
  critical: '#c81e1e',
  depleted: '#7f1d1d',
};

interface Props {
  history: History;
  currency: string;
  height?: number;
}

export function BalanceChart({ history, currency, height = 280 }: Props) {
  const { t, i18n } = useTranslation();
  const lt = loose(t);
  const box = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const el = box.current;
    if (!el || history.data.length === 0) return;
    const xs = history.data.map((p) => new Date(p.at).getTime() / 1000);
    const ys: (number | null)[] = history.data.map((p) => p.balance);
    const fc: (number | null)[] = ys.map(() => null);
    const lastX = xs[xs.length - 1]!;
    const lastY = history.data[history.data.length - 1]!.balance;
    const span = Math.max(lastX - xs[0]!, 3600);
    const zeroAt = history.forecast.zero_at ? new Date(history.forecast.zero_at).getTime() / 1000 : null;
    if (zeroAt !== null && zeroAt > lastX && lastY > 0) {
      // Show the forecast up to zero, or up to one more history span when zero is far away.
      const endX = Math.min(zeroAt, lastX + Math.max(span, 86_400));
      const endY = lastY * (1 - (endX - lastX) / (zeroAt - lastX));
      fc[fc.length - 1] = lastY;
      xs.push(endX);
      ys.push(null);
      fc.push(Math.max(0, endY));
    }
    const lines = history.threshold_levels;
    const maxLine = lines.reduce((m, l) => Math.max(m, l.below), 0);

    const opts: uPlot.Options = {
      width: Math.max(el.clientWidth, 200),
      height,
      scales: {
        x: { time: true },
        y: {
          range: (_u, min, max) => {
            const lo = Math.min(0, min);
            const hi = Math.max(max, maxLine * 1.15, lo + 1);
            return [lo, hi + (hi - lo) * 0.05];
          },
        },
      },
      axes: [
        {
          stroke: '#5b6472',
          grid: { stroke: '#eef0f3' },
          ticks: { stroke: '#e1e4ea' },
          // Times in the page's language, 24-hour, with the date under the first tick of each day.
          values: (_u, splits, _ax, _space, incr) => {
            const day = new Intl.DateTimeFormat(i18n.language, { month: 'short', day: 'numeric' });
            const time = new Intl.DateTimeFormat(i18n.language, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
            let prevDay = '';
            return splits.map((s) => {
              const d = new Date(s * 1000);
              const dayText = day.format(d);
              if (incr >= 86_400) return dayText;
              const label = dayText !== prevDay ? `${time.format(d)}\n${dayText}` : time.format(d);
              prevDay = dayText;
              return label;
            });
          },
        },
        {
          stroke: '#5b6472',
          grid: { stroke: '#eef0f3' },
          ticks: { stroke: '#e1e4ea' },
          size: 64,
          values: (_u, splits) => splits.map((v) => formatMoney(v, currency)),
        },
      ],
      series: [
        { label: t('account.chart.time'), value: (_u, v) => (v === null ? '—' : new Date(v * 1000).toLocaleString(i18n.language)) },
        {
          label: t('account.chart.balance'),
          stroke: '#1d4ed8',
          width: 2,
          fill: 'rgba(29, 78, 216, 0.07)',
          points: { show: history.data.length < 60 },
          value: (_u, v) => (v === null ? '—' : formatMoney(v, currency)),
        },
        {
          label: t('account.chart.forecast'),
          stroke: '#6b7280',
          width: 1.5,
          dash: [6, 5],
          spanGaps: true,
          points: { show: false },
          value: (_u, v) => (v === null ? '—' : formatMoney(v, currency)),
        },
      ],
      legend: { show: true, live: true },
      hooks: {
        draw: [
          (u) => {
            const ctx = u.ctx;
            const { left, top, width, height: h } = u.bbox;
            ctx.save();
            ctx.beginPath();
            ctx.rect(left, top, width, h);
            ctx.clip();
            const dpr = uPlot.pxRatio;
            for (const l of lines) {
              const y = Math.round(u.valToPos(l.below, 'y', true)) + 0.5;
              const color = LEVEL_COLORS[l.level] ?? '#b45309';
              ctx.strokeStyle = color;
              ctx.lineWidth = 1 * dpr;
              ctx.setLineDash([4 * dpr, 4 * dpr]);
              ctx.beginPath();
              ctx.moveTo(left, y);
              ctx.lineTo(left + width, y);
              ctx.stroke();
              ctx.setLineDash([]);
              ctx.fillStyle = color;
              ctx.font = `${11 * dpr}px system-ui, sans-serif`;
              ctx.textAlign = 'right';
              ctx.fillText(`${lt(`level.${l.level}`)} < ${formatMoney(l.below, currency)}`, left + width - 6 * dpr, y - 4 * dpr);
            }
            ctx.restore();
          },
        ],
      },
    };
    const plot = new uPlot(opts, [xs, ys, fc], el);
    const ro = new ResizeObserver(() => {
      const w = Math.max(el.clientWidth, 200);
      if (Math.abs(w - plot.width) > 1) plot.setSize({ width: w, height });
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.destroy();
    };
  }, [history, currency, height, t, lt, i18n.language]);

  if (history.data.length === 0) return <p className="muted chart-empty">{t('account.chart.empty')}</p>;
  const last = history.data[history.data.length - 1]!;
  return (
    <div
      className="chart"
      ref={box}
      role="img"
      aria-label={t('account.chart.aria', { count: history.data.length, balance: formatMoney(last.balance, currency) })}
    />
  );
}
