/**
 * The one owner of per-client state: each layer's part is made once per client under its own
 * typed key, and one hook on `client.close()` runs every teardown, once, before etcd3's close.
 */
import { Etcd3 } from 'etcd3';
import { afterEach, describe, expect, it } from 'vitest';
import { clientState, slotKey } from '../../src/etcd/client-state.js';

const clients: Etcd3[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

function client(): Etcd3 {
  // Never connects: no call is made, construction opens nothing.
  const c = new Etcd3({ hosts: '127.0.0.1:1' });
  clients.push(c);
  return c;
}

describe('clientState', () => {
  it('makes each part once per client, under its own key, and keeps clients apart', () => {
    const a = client();
    const b = client();
    const KEY = slotKey<{ n: number }>('test part');
    const OTHER = slotKey<string[]>('other part');
    let made = 0;
    const make = () => ({ n: ++made });
    const first = clientState(a).slot(KEY, make);
    expect(clientState(a).slot(KEY, make)).toBe(first);
    expect(clientState(a)).toBe(clientState(a));
    expect(clientState(b).slot(KEY, make)).not.toBe(first);
    expect(made).toBe(2);
    expect(clientState(a).peek(OTHER)).toBeUndefined();
    clientState(a).set(OTHER, ['x']);
    expect(clientState(a).peek(OTHER)).toEqual(['x']);
    expect(clientState(b).peek(OTHER)).toBeUndefined();
  });

  it('runs every registered teardown once on close(), then etcd3 closes the client', () => {
    const c = client();
    const ran: string[] = [];
    clientState(c).onClose(() => ran.push('watch hub'));
    const unregister = clientState(c).onClose(() => ran.push('unregistered'));
    clientState(c).onClose(() => ran.push('mirror'));
    unregister();
    c.close();
    expect(ran).toEqual(['watch hub', 'mirror']);
    c.close();
    expect(ran).toEqual(['watch hub', 'mirror']);
  });

  it('leaves close() alone on a client nothing registered a teardown on', () => {
    const c = client();
    // etcd3's close() lives on the prototype; the hook is an own property of the client.
    clientState(c).slot(slotKey<number>('setting'), () => 1);
    expect(Object.hasOwn(c, 'close')).toBe(false);
    clientState(c).onClose(() => undefined);
    expect(Object.hasOwn(c, 'close')).toBe(true);
  });
});
