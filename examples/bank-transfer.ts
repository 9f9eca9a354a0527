/**
 * Bank transfers with STM: five accounts of 100, ten clients moving money between random pairs
 * at the same time. Each transfer reads two balances and writes both; when another transfer got
 * in between, etcd refuses the commit and the transfer runs again on fresh balances. However the
 * transfers interleave, no money is created or lost: the total stays 500.
 *
 *   ETCD_ENDPOINTS=127.0.0.1:2379 npx tsx examples/bank-transfer.ts
 */
import { createClient, stm, StmConflictError } from '../src/index.js';

const prefix = `examples/bank-transfer/${process.pid}/`;
const accounts = ['alice', 'bob', 'carol', 'dave', 'erin'].map((n) => prefix + n);
const setup = createClient();
for (const account of accounts) await setup.put(account).value('100');

let retries = 0;
async function transfer(client: ReturnType<typeof createClient>, round: number): Promise<void> {
  const from = accounts[round % 5]!;
  const to = accounts[(round + 1 + (round % 4)) % 5]!; // never the same account
  let attempts = 0;
  const moved = await stm(
    client,
    async (tx) => {
      if (++attempts > 1) retries++;
      // Both balances in one round trip; the snapshot makes them consistent with each other.
      const a = Number(await tx.get(from, to));
      const b = Number(await tx.get(to));
      const amount = Math.floor(a / 2);
      tx.put(from, String(a - amount));
      tx.put(to, String(b + amount));
      return amount; // the result of stm(): the amount of the attempt that committed
    },
    { isolation: 'serializable-snapshot', maxRetries: 30, signal: AbortSignal.timeout(10_000) },
  );
  console.log(`moved ${moved} from ${name(from)} to ${name(to)} (${attempts} attempt(s))`);
}
const name = (key: string) => key.slice(prefix.length);

const clients = Array.from({ length: 10 }, () => createClient());
await Promise.all(clients.map((c, i) => transfer(c, i)));

const balances = await Promise.all(accounts.map(async (a) => Number(await setup.get(a).string())));
console.log(`balances: ${accounts.map((a, i) => `${name(a)}=${balances[i]}`).join(' ')}`);
console.log(`total: ${balances.reduce((x, y) => x + y, 0)} (conflicts retried: ${retries})`);

// A transaction that can never win gives up with a typed error instead of retrying forever.
try {
  await stm(
    setup,
    async (tx) => {
      const v = Number(await tx.get(accounts[0]!));
      await setup.put(accounts[0]!).value(String(v)); // someone else always writes first
      tx.put(accounts[0]!, String(v + 1));
    },
    { maxRetries: 2 },
  );
} catch (err) {
  if (!(err instanceof StmConflictError)) throw err;
  console.log(`hopeless transaction: StmConflictError after ${err.attempts} attempts`);
}

await setup.delete().prefix(prefix);
for (const c of [setup, ...clients]) c.close();
