import type { Etcd3 } from 'etcd3';
import { filter, firstValueFrom } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { Election, Mutex, type Session, type SessionState } from '../../src/index.js';
import { startProxy } from '../support/proxy.js';
import { collectOutputs, countAuthentications, sleep, useSecureEtcd } from './fixture.js';

/**
 * Tokens here expire after this many seconds: simple tokens after that long unused on a member,
 * JWTs that long after they were issued, however much they are used.
 */
const TOKEN_TTL_S = 2;

/** Every state a session went through, to prove it never left `alive`. */
function statesOf(session: Session): SessionState[] {
  const states: SessionState[] = [];
  session.state$.subscribe((s) => states.push(s));
  return states;
}

function track<T>(promise: Promise<T>) {
  const state = { settled: false, promise };
  promise.then(
    () => (state.settled = true),
    () => (state.settled = true),
  );
  return state;
}

async function timed<T>(promise: Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const value = await promise;
  return [value, performance.now() - started];
}

describe.each([
  [1, 'simple'],
  [3, 'simple'],
  [1, 'jwt'],
] as const)(
  `Auth tokens that expire after ${TOKEN_TTL_S} s, on a %i-member etcd with %s tokens`,
  (members, tokenType) => {
    const etcd = useSecureEtcd({ members, tokenType, tokenTtlSeconds: TOKEN_TTL_S });
    collectOutputs(() => {
      const { auth } = etcd.credentials();
      return [auth.user.password, auth.root.password];
    });

    /** A client of the limited user that counts its Authenticate calls. */
    function userClient(endpoints?: string[]): { client: Etcd3; authentications: () => number } {
      const client = etcd.user(endpoints ? { endpoints } : {});
      return { client, authentications: countAuthentications(client) };
    }

    it('are renewed transparently while a lock is held and a waiter waits, over several token lifetimes', async () => {
      const name = etcd.name('held');
      const a = userClient();
      const b = userClient();
      const sessionA = await etcd.session(a.client, { ttl: 5 });
      const sessionB = await etcd.session(b.client, { ttl: 5 });
      const states = [statesOf(sessionA), statesOf(sessionB)];
      const holdA = await new Mutex(sessionA, name, { value: 'a' }).lock();
      const waitB = track(new Mutex(sessionB, name, { value: 'b' }).lock());

      await sleep(3 * TOKEN_TTL_S * 1000); // both clients’ tokens expire (nothing uses them)
      expect(waitB.settled).toBe(false);
      expect(holdA.signal.aborted).toBe(false);

      // A new watch on the waiter's client, whose stream still carries the expired token.
      const [leader, observeMs] = await timed(
        firstValueFrom(Election.observe(b.client, etcd.name('observe'))),
      );
      expect(leader).toBeNull();
      expect(observeMs).toBeLessThan(2500);

      // The holder's release (a unary call with an expired token) hands the lock over at once.
      await sleep(TOKEN_TTL_S * 1000 + 500);
      const [holdB, handoffMs] = await timed(
        (async () => {
          await holdA.release();
          return waitB.promise;
        })(),
      );
      expect(handoffMs).toBeLessThan(2500);
      expect(holdB.fencingToken).toBeGreaterThan(holdA.fencingToken);

      // The former holder waits again: its mirror's watch is created anew with an expired token.
      await sleep(TOKEN_TTL_S * 1000 + 500);
      const waitA = track(new Mutex(sessionA, name, { value: 'a' }).lock());
      await sleep(300);
      expect(waitA.settled).toBe(false);
      await holdB.release();
      const holdA2 = await waitA.promise;
      expect(holdA2.signal.aborted).toBe(false);
      await holdA2.release();

      expect(states).toEqual([['alive'], ['alive']]);
      // Each expiry costs one new token per client, not a storm of them.
      expect(a.authentications()).toBeGreaterThanOrEqual(2);
      expect(a.authentications()).toBeLessThanOrEqual(4);
      expect(b.authentications()).toBeLessThanOrEqual(4);
    }, 60_000);

    it('a waiter whose connection drops after its token expired resumes its watch and gets the lock', async () => {
      const name = etcd.name('reconnect');
      const target = etcd.cluster().endpoints[0]!;
      const proxy = await startProxy(target.replace(/^https:/, 'http:'));
      etcd.defer(() => proxy.close());
      const a = userClient();
      const b = userClient([proxy.endpoint.replace(/^http:/, 'https:')]);
      const sessionA = await etcd.session(a.client, { ttl: 5 });
      const sessionB = await etcd.session(b.client, { ttl: 5 });
      const holdA = await new Mutex(sessionA, name).lock();
      const waitB = track(new Mutex(sessionB, name).lock());
      await sleep(2 * TOKEN_TTL_S * 1000);
      const before = b.authentications();
      proxy.cut();
      await sleep(300);
      proxy.resume();
      // The watch stream reconnects with the expired token; etcd refuses to re-create the watch
      // until the client authenticates again.
      await firstValueFrom(sessionB.state$.pipe(filter((s) => s === 'alive')));
      await sleep(1000);
      expect(waitB.settled).toBe(false);
      await holdA.release();
      const holdB = await waitB.promise;
      expect(b.authentications()).toBeGreaterThan(before);
      expect(sessionB.currentState).toBe('alive');
      await holdB.release();
    }, 60_000);
  },
);
