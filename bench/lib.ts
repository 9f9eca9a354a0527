/** The library under test, from source (the bench runs under tsx: no build step), public API only. */
export { createClient, Election, Mutex, RWMutex, Semaphore, Session } from '../src/index.js';
export type { Hold } from '../src/index.js';
