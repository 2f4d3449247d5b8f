// The console's start page: who is signed in, with which role, and the
// sections that role may open (the dashboard may take its place).
import type { ConsolePage } from '../consoleSteps.ts';

export const homePage: ConsolePage = {
  navigation: { path: '/admin', labelKey: 'console.nav.home', roles: ['support', 'auditor'] },
  routes(router, steps) {
    const { signedIn } = steps;
    router.get('/admin', signedIn, steps.requireRole('support', 'auditor'), (ctx) => steps.render(ctx, 'console/home.eta', { titleKey: 'console.home.title' }));
  },
};
