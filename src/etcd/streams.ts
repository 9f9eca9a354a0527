import type { IDuplexStream } from 'etcd3';

/**
 * Cancels a gRPC stream the library opened on an etcd3 client, quietly.
 *
 * etcd3 listens for errors on its streams and, when one errors while still writable, takes the
 * host for failed and closes every gRPC client to it: a unary call starting at that moment fails
 * with "14 UNAVAILABLE: Channel closed before call started". Our own cancel() is such an error (a
 * CANCELLED status). Over TLS this reliably broke `session.close()`: the keep-alive stream's
 * cancel closed the channel under the lease revoke that follows it. Ending our side first makes
 * the stream non-writable, so etcd3 leaves the host alone.
 */
export function cancelStream(stream: IDuplexStream<unknown, unknown>): void {
  stream.on('error', noop); // the cancel itself surfaces as an error event
  stream.end();
  stream.cancel();
}

function noop(): void {
  /* nothing */
}
