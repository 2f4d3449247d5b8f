// The dashboard's chart geometry: bars in proportion to the largest value,
// stacked failures on successes, the funnel's bars to scale, and an empty
// period drawn as flat bars rather than a division by zero.
import { expect } from 'chai';
import { funnelSteps } from '../../src/admin/dashboardStatistics.ts';
import { funnelChart, signInChart } from '../../src/console/dashboardCharts.ts';

describe('the dashboard’s charts', () => {
  it('stacks each day’s failures on its successes, the busiest day reaching the top', () => {
    const chart = signInChart([
      { day: '2026-12-01', success: 30, failure: 10 },
      { day: '2026-12-02', success: 10, failure: 0 },
    ]);
    expect(chart.max).to.equal(40);
    const [busiest, quiet] = chart.columns;
    expect(busiest!.failure.y, 'the top').to.equal(0);
    expect(busiest!.success.y + busiest!.success.height).to.equal(chart.baseline);
    expect(busiest!.failure.y + busiest!.failure.height).to.equal(busiest!.success.y);
    expect(busiest!.success.height).to.equal(3 * busiest!.failure.height);
    expect(quiet!.success.height).to.equal(busiest!.success.height / 3);
    expect(quiet!.failure.height).to.equal(0);
    expect(quiet!.success.x).to.be.greaterThan(busiest!.success.x + busiest!.success.width);
  });

  it('labels at most about ten days, and draws an empty period flat', () => {
    const days = Array.from({ length: 30 }, (_, index) => ({ day: `2026-11-${String(index + 1).padStart(2, '0')}`, success: 0, failure: 0 }));
    const chart = signInChart(days);
    expect(chart.columns.filter((column) => column.labelled).length).to.be.within(8, 10);
    expect(chart.columns.every((column) => column.success.height === 0 && column.failure.height === 0)).to.equal(true);
  });

  it('draws the funnel’s bars to scale, each count written right of its bar', () => {
    const chart = funnelChart(funnelSteps({ asked: 100, sent: 50, opened: 25, bound: 0 }));
    const widths = chart.rows.map((row) => row.bar.width);
    expect(widths[1]! * 2).to.equal(widths[0]);
    expect(widths[2]! * 4).to.equal(widths[0]);
    expect(widths[3]).to.equal(0);
    for (const row of chart.rows) expect(row.labelX).to.be.greaterThan(row.bar.x + row.bar.width);
  });
});
