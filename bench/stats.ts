/** Small statistics shared by the benchmarks. */

/** The median, rounded to `decimals` places. */
export function median(values: number[], decimals: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const value = sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
  const scale = 10 ** decimals;
  return Math.round(value * scale) / scale;
}

/** Minimum, median (one decimal) and maximum: the shape of every downtime figure. */
export function spread(values: number[]): { min: number; median: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return { min: sorted[0], median: median(values, 1), max: sorted[sorted.length - 1] };
}
