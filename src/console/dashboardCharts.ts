// The dashboard's charts as geometry for server-rendered SVG (no script, no
// external asset): sign-ins per day as stacked bars (successes below,
// failures above) and the association funnel as horizontal bars. The
// template draws them; the numbers stand beside them in a table, and each
// chart has a title and a description for screen readers.
import type { FunnelStep, SignInDay } from '../admin/dashboardStatistics.ts';

export interface Bar {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface SignInColumn {
  day: string;
  success: Bar;
  failure: Bar;
  /** Where the day's label sits (every few days on long periods). */
  labelX: number;
  labelled: boolean;
}

export interface SignInChart {
  width: number;
  height: number;
  /** The plot's bottom: the bars stand on it. */
  baseline: number;
  /** The largest day's total, the top of the scale. */
  max: number;
  columns: SignInColumn[];
}

const chartWidth = 640;
const plotHeight = 160;
const labelSpace = 24;

/** Bars' heights in proportion to the busiest day; an empty period draws flat bars. */
export function signInChart(days: readonly SignInDay[]): SignInChart {
  const max = Math.max(1, ...days.map((day) => day.success + day.failure));
  const slot = chartWidth / Math.max(days.length, 1);
  const barWidth = Math.max(2, Math.floor(slot * 0.7));
  const labelEvery = Math.ceil(days.length / 10);
  const scale = (count: number): number => Math.round((count / max) * plotHeight);
  const columns = days.map((day, index) => {
    const x = Math.round(index * slot + (slot - barWidth) / 2);
    const successHeight = scale(day.success);
    const failureHeight = scale(day.failure);
    return {
      day: day.day,
      success: { x, y: plotHeight - successHeight, width: barWidth, height: successHeight },
      failure: { x, y: plotHeight - successHeight - failureHeight, width: barWidth, height: failureHeight },
      labelX: Math.round(index * slot + slot / 2),
      labelled: index % labelEvery === 0,
    };
  });
  return { width: chartWidth, height: plotHeight + labelSpace, baseline: plotHeight, max, columns };
}

export interface FunnelRow {
  step: FunnelStep['step'];
  count: number;
  bar: Bar;
  /** Where the count is written, just right of the bar. */
  labelX: number;
  labelY: number;
}

const rowHeight = 28;
const rowGap = 10;
const funnelBarSpace = 520;

/** One row a step, each bar's length in proportion to the largest step. */
export function funnelChart(steps: readonly FunnelStep[]): { width: number; height: number; rows: FunnelRow[] } {
  const max = Math.max(1, ...steps.map((step) => step.count));
  const rows = steps.map((step, index) => {
    const y = index * (rowHeight + rowGap);
    const width = Math.round((step.count / max) * funnelBarSpace);
    return { step: step.step, count: step.count, bar: { x: 0, y, width, height: rowHeight }, labelX: width + 8, labelY: y + rowHeight / 2 + 5 };
  });
  return { width: chartWidth, height: steps.length * (rowHeight + rowGap), rows };
}
