// The dashboard (every role): sign-ins per day (success and failure), the
// association funnel with the drop-off at each step, email delivery health
// and active sessions over the last 7, 14 or 30 days — charts drawn on the
// server as SVG, with the numbers beside them.
import type { ConsolePage, ConsoleStep } from '../consoleSteps.ts';
import { funnelChart, signInChart } from '../dashboardCharts.ts';

export const dashboardPath = '/admin/dashboard';
const periods = [7, 14, 30] as const;

export const dashboardPage: ConsolePage = {
  navigation: { path: dashboardPath, labelKey: 'console.nav.dashboard', roles: ['support', 'auditor'] },
  routes(router, steps) {
    const showDashboard: ConsoleStep = async (ctx) => {
      const days = periods.find((period) => String(period) === ctx.query.days) ?? 14;
      const dashboard = await ctx.state.services.dashboard.dashboard(days);
      steps.render(ctx, 'console/dashboard.eta', {
        titleKey: 'console.dashboard.title',
        dashboard,
        periods,
        signInChart: signInChart(dashboard.signIns),
        funnelChart: funnelChart(dashboard.funnel.steps),
        percent: (share: number) => `${Math.round(share * 100)} %`,
        when: (time: number | undefined) => steps.time(ctx, time) || '—',
      });
    };
    router.get(dashboardPath, steps.signedIn, steps.requireRole('support', 'auditor'), showDashboard);
  },
};
