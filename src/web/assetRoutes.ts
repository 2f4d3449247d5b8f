// Routes that serve no flow: the broker's stylesheet and the console's script under /static, and the
// development mailbox at /dev/mail (mail kept in memory when SMTP_URL is unset).
import type { Context, Next } from 'koa';
import type { DevMailbox } from '../mail/transport.ts';
import { pageLocale, type PageRenderer } from './pages.ts';


/** GET /static/broker.css, cacheable for an hour. */
export function stylesheetRoute(css: string) {
  return async function serveStylesheet(ctx: Context, next: Next): Promise<void> {
    if (ctx.path !== '/static/broker.css') return next();
    ctx.type = 'text/css';
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = css;
  };
}

/** GET /static/console.js (the console's copy buttons), cacheable for an hour. */
export function consoleScriptRoute(script: string) {
  return async function serveConsoleScript(ctx: Context, next: Next): Promise<void> {
    if (ctx.path !== '/static/console.js') return next();
    ctx.type = 'text/javascript';
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = script;
  };
}

/** GET /dev/mail: the emails kept in memory, with their links clickable. */
export function devMailboxRoute(pages: PageRenderer, devMailbox: DevMailbox) {
  return async function serveDevMailbox(ctx: Context, next: Next): Promise<void> {
    if (ctx.path !== '/dev/mail') return next();
    ctx.type = 'html';
    ctx.body = pages.render(
      'dev-mailbox.eta',
      {
        titleKey: 'dev_mailbox.title',
        messages: devMailbox.messages().map((message) => ({ ...message, links: [...message.text.matchAll(/https?:\/\/\S+/g)].map((match) => match[0]), delivered: new Date(message.deliveredAt).toISOString() })),
      },
      { locale: pageLocale(ctx) },
    );
  };
}
