// The configured upstreams as one list: found by id (records from before
// several upstreams name none: the first), and by the domain of a portal's
// login_hint or domain_hint.
import { expect } from 'chai';
import { BrokerError } from '../../src/errors.ts';
import { createUpstream } from '../../src/upstream/index.ts';
import { hintDomain, Upstreams } from '../../src/upstream/upstreams.ts';

const upstream = (id: string, domains: string[] = []) => createUpstream({ id, kind: 'oidc', name: id, issuer: `https://${id}.example`, clientId: 'broker', domains });

describe('the configured upstreams', () => {
  const upstreams = new Upstreams([upstream('personal'), upstream('contoso', ['contoso.com', 'Contoso.de']), upstream('fabrikam', ['fabrikam.com'])]);

  it('finds an upstream by id; no id is the first configured, an unknown id none', () => {
    expect(upstreams.find('contoso')?.id).to.equal('contoso');
    expect(upstreams.find(undefined)?.id).to.equal('personal');
    expect(upstreams.find('northwind')).to.equal(undefined);
    expect(upstreams.several).to.equal(true);
  });

  it('picks the upstream serving a hint’s domain, whichever case it is written in, and the first hint naming a served domain', () => {
    expect(upstreams.forHints('Jane.Doe@CONTOSO.com')?.id).to.equal('contoso');
    expect(upstreams.forHints('contoso.de')?.id).to.equal('contoso');
    expect(upstreams.forHints('organizations', 'jane@fabrikam.com')?.id).to.equal('fabrikam');
    expect(upstreams.forHints('jane@elsewhere.com', undefined)).to.equal(undefined);
    expect(upstreams.forHints('sub.contoso.com')).to.equal(undefined);
  });

  it('reads a domain only from a well-formed hint', () => {
    expect(hintDomain('a@b@contoso.com')).to.equal('contoso.com');
    expect([hintDomain('jane'), hintDomain(''), hintDomain(undefined), hintDomain('jane@<script>.com')]).to.deep.equal([undefined, undefined, undefined, undefined]);
  });

  it('refuses no upstream at all and two with one id', () => {
    expect(() => new Upstreams([])).to.throw(BrokerError, /At least one upstream/);
    expect(() => new Upstreams([upstream('personal'), upstream('personal')])).to.throw(BrokerError, /Two upstreams have the id personal/);
  });
});
