import os from 'node:os';

/** The 1-minute load average: other work on a shared machine disturbs the numbers. */
export function loadAverage(): number {
  return Number(os.loadavg()[0]!.toFixed(2));
}

/** One line about the machine a run was made on, for the report. */
export function describeMachine(): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model.trim() ?? 'unknown CPU';
  const memGiB = (os.totalmem() / 2 ** 30).toFixed(0);
  return `${cpus.length} × ${model}, ${memGiB} GiB RAM, ${os.type()} ${os.release()}, Node ${process.version}`;
}
