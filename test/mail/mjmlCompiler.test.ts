// mjml runs in a worker thread that the first email starts and idleness ends,
// so the broker carries mjml's memory only while it is sending mail.
import { expect } from 'chai';
import { MjmlCompiler } from '../../src/mail/mjmlCompiler.ts';

const source = '<mjml><mj-body><mj-section><mj-column><mj-text>Hello</mj-text></mj-column></mj-section></mj-body></mjml>';
const pause = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));

describe('the mjml compiler', function () {
  this.timeout(20_000);

  it('starts its worker at the first compile, ends it when idle, and starts it again for the next', async () => {
    const compiler = new MjmlCompiler({ idleMilliseconds: 50 });
    expect(compiler.running).to.equal(false);
    const first = await compiler.compile(source);
    expect(first.errors).to.deep.equal([]);
    expect(first.html).to.contain('Hello');
    expect(compiler.running).to.equal(true);
    await pause(300);
    expect(compiler.running, 'ended after 50 ms without work').to.equal(false);
    expect((await compiler.compile(source)).html).to.equal(first.html);
    await compiler.close();
    expect(compiler.running).to.equal(false);
  });

  it('compiles in parallel and reports validation errors instead of failing', async () => {
    const compiler = new MjmlCompiler();
    const results = await Promise.all(Array.from({ length: 5 }, (_, index) => compiler.compile(source.replace('Hello', `Hello ${index}`))));
    results.forEach((result, index) => expect(result.html).to.contain(`Hello ${index}`));
    const invalid = await compiler.compile('<mjml><mj-body><mj-text>outside a column</mj-text></mj-body></mjml>');
    expect(invalid.errors.length).to.be.greaterThan(0);
    await compiler.close();
  });
});
