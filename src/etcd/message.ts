/** The text of an error, or of a reason etcd gave as a string (a watch's cancel reason). */
export function messageOf(errorOrReason: unknown): string {
  if (typeof errorOrReason === 'string') return errorOrReason;
  return errorOrReason instanceof Error ? errorOrReason.message : '';
}
