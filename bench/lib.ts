/** The library under test, from source (the bench runs under tsx: no build step). */
export { createClient, Election, Mutex, Semaphore, Session } from '../src/index.js';
