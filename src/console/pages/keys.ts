// The keys page (admin only): token signing keys and cookie keys with their
// status (never a private part or a secret), and rotating either — a
// sensitive action that needs a recent sign-in, audited as the admin's.
import type { ConsolePage, ConsoleStep } from '../consoleSteps.ts';

const keysPath = '/admin/keys';

export const keysPage: ConsolePage = {
  navigation: { path: keysPath, labelKey: 'console.nav.keys', roles: [] },
  routes(router, steps) {
    const { signedIn, form } = steps;
    const adminOnly = steps.requireRole();
    const recentSignIn = steps.requireRecentSignIn(keysPath);

    const showKeys: ConsoleStep = async (ctx) => {
      const { keys } = ctx.state.services;
      const [signingKeys, cookieKeys] = await Promise.all([keys.list(), keys.listCookieKeys()]);
      const done = ctx.query.done === 'signing' || ctx.query.done === 'cookie' ? ctx.query.done : undefined;
      steps.render(ctx, 'console/keys.eta', {
        titleKey: 'console.keys.title',
        signingKeys: signingKeys.map((key) => ({ kid: key.kid, alg: key.alg, status: key.status, createdAt: steps.time(ctx, key.createdAt), retiredAt: steps.time(ctx, key.retiredAt) })),
        cookieKeys: cookieKeys.map((key) => ({ id: key.id, status: key.status, createdAt: steps.time(ctx, key.createdAt) })),
        rotateSigning: `${keysPath}/rotate-signing`,
        rotateCookie: `${keysPath}/rotate-cookie`,
        done,
      });
    };
    const rotateSigningKeys: ConsoleStep = async (ctx) => {
      await ctx.state.services.keys.rotateSigningKeys();
      ctx.status = 303;
      ctx.redirect(`${keysPath}?done=signing`);
    };
    const rotateCookieKey: ConsoleStep = async (ctx) => {
      await ctx.state.services.keys.rotateCookieKey();
      ctx.status = 303;
      ctx.redirect(`${keysPath}?done=cookie`);
    };

    router.get(keysPath, signedIn, adminOnly, showKeys);
    router.post(`${keysPath}/rotate-signing`, signedIn, adminOnly, form, recentSignIn, rotateSigningKeys);
    router.post(`${keysPath}/rotate-cookie`, signedIn, adminOnly, form, recentSignIn, rotateCookieKey);
  },
};
