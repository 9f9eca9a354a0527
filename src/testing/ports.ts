import { createServer, type Server } from 'node:net';

/**
 * `count` distinct ports that were free on 127.0.0.1 a moment ago (the OS picks them). Another
 * process may still take one before etcd binds it: the cluster start retries with new ports.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const server = createServer();
      servers.push(server);
      ports.push(
        await new Promise<number>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => {
            const addr = server.address();
            if (addr !== null && typeof addr === 'object') resolve(addr.port);
            else reject(new Error('could not determine a free port'));
          });
        }),
      );
    }
    return ports;
  } finally {
    await Promise.all(
      servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => {
              resolve();
            });
          }),
      ),
    );
  }
}
