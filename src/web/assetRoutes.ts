// Routes that serve no flow: the broker's stylesheet and the console's script under /static, and the
// development mailbox at /dev/mail (mail kept in memory when SMTP_URL is unset).
import type { Context, Next } from 'koa';
import type { DevMailbox } from '../mail/transport.ts';
import { pageLocale, type PageRenderer } from './pages.ts';


/** A file of /static (the stylesheet, the console's script), cacheable for an hour. */
function staticFileRoute(path: string, type: string, content: string) {
  return async function serveStaticFile(ctx: Context, next: Next): Promise<void> {
    if (ctx.path !== path) return next();
    ctx.type = type;
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = content;
  };
}

/** GET /static/broker.css. */
export const stylesheetRoute = (css: string) => staticFileRoute('/static/broker.css', 'text/css', css);

/** GET /static/console.js (the console's copy buttons). */
export const consoleScriptRoute = (script: string) => staticFileRoute('/static/console.js', 'text/javascript', script);

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
