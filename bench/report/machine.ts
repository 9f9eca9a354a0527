import os from 'node:os';

/** One line about the machine a run was made on, for the report. */
export function describeMachine(): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model.trim() ?? 'unknown CPU';
  const memGiB = (os.totalmem() / 2 ** 30).toFixed(0);
  return `${cpus.length} × ${model}, ${memGiB} GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}`;
}
