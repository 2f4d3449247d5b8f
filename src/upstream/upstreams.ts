// The upstreams the broker is configured with, in the order the sign-in page
// offers them: found by id (a round trip, an identity, a link remember which
// one they used) or by the domain of a portal's login_hint or domain_hint.
import { invalidConfiguration } from '../errors.ts';
import type { Upstream } from './upstream.ts';

/** The domain a hint names: the part after the last `@` of a login_hint, or a domain_hint itself. */
export function hintDomain(hint: string | undefined): string | undefined {
  const domain = hint?.slice(hint.lastIndexOf('@') + 1).trim().toLowerCase();
  return domain && /^[a-z0-9.-]+\.[a-z0-9-]+$/.test(domain) ? domain : undefined;
}

export class Upstreams {
  readonly all: readonly Upstream[];

  constructor(upstreams: readonly Upstream[]) {
    if (upstreams.length === 0) throw invalidConfiguration('error.configuration.upstreams_required');
    const ids = upstreams.map((upstream) => upstream.id);
    const repeated = ids.find((id, index) => ids.indexOf(id) !== index);
    if (repeated) throw invalidConfiguration('error.configuration.upstream_id_repeated', { id: repeated });
    this.all = [...upstreams];
  }

  /** The first configured: the only one with one upstream, and the one for records from before several were possible. */
  get primary(): Upstream {
    return this.all[0]!;
  }

  get several(): boolean {
    return this.all.length > 1;
  }

  /** The upstream of `id`; an undefined id (records from before several upstreams) is the primary one. */
  find(id: string | undefined): Upstream | undefined {
    return id === undefined ? this.primary : this.all.find((upstream) => upstream.id === id);
  }

  /** The upstream serving the domain of the first hint that names a domain one of them serves. */
  forHints(...hints: Array<string | undefined>): Upstream | undefined {
    for (const hint of hints) {
      const domain = hintDomain(hint);
      const upstream = domain ? this.all.find((candidate) => candidate.domains.includes(domain)) : undefined;
      if (upstream) return upstream;
    }
    return undefined;
  }
}
