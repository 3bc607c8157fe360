/** Splits a list into chunks of at most `n` (bulk statements stay under the databases' parameter limits). */
export function chunk<T>(xs: readonly T[], n: number): T[][] {
  return Array.from({ length: Math.ceil(xs.length / n) }, (_, i) => xs.slice(i * n, i * n + n));
}
