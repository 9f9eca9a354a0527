/**
 * A worker process of the multi-process cases: one etcd client of its own, one role at a time,
 * driven by its parent over IPC (see protocol.ts). It exits by itself once the parent closes the
 * channel (or dies): it cleans up its role and leaves nothing running.
 */
import type { FromWorker, ToWorker } from './protocol.js';
import { prepareRole, type RoleRunner } from './roles.js';

let role: RoleRunner | undefined;

function send(msg: FromWorker): void {
  if (process.connected) process.send?.(msg);
}

async function handle(msg: ToWorker): Promise<void> {
  switch (msg.type) {
    case 'prepare':
      role = await prepareRole(msg.role, send);
      send({ type: 'ready' });
      return;
    case 'go':
      role?.go(msg.stopAt);
      return;
    case 'halt':
      if (role) send({ type: 'done', report: role.halt() });
      return;
    case 'cleanup':
      await role?.cleanup();
      role = undefined;
      send({ type: 'cleaned' });
      return;
  }
}

process.on('message', (msg: ToWorker) => {
  handle(msg).catch((err: unknown) => {
    send({ type: 'failed', message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  });
});

process.on('disconnect', () => {
  const current = role;
  role = undefined;
  // Nothing else keeps the process alive: once the role's client is closed, it exits.
  void current?.cleanup().catch(() => undefined);
  setTimeout(() => process.exit(0), 5000).unref();
});
