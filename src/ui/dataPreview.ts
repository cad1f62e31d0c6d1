/**
 * The Load data panel's arithmetic on a preview's token-length counts (core/data/preview.ts): the truncation
 * rate at a max length and a histogram's bins. Pure; recomputed in the page when maxLength changes.
 */

/** Share of examples longer than `maxLength` tokens (they get truncated); NaN with no examples. */
export function truncationRate(lengthCounts: readonly number[], maxLength: number): number {
  let total = 0;
  let over = 0;
  lengthCounts.forEach((c, n) => {
    total += c;
    if (n > maxLength) over += c;
  });
  return total === 0 ? NaN : over / total;
}

export interface LengthBin {
  /** Token lengths from..to (inclusive). */
  from: number;
  to: number;
  count: number;
  /** Every length in the bin exceeds maxLength (those examples are truncated). */
  truncated: boolean;
}

/**
 * Histogram bins over lengths 1..max(maxLength, longest): equal-width bins up to maxLength and equal-width bins
 * beyond it (at most `bins` in all, at least one on each side that has lengths), so no bin mixes kept and
 * truncated lengths. The last count of `lengthCounts` (the overflow bucket) falls into the last bin.
 */
export function lengthHistogram(lengthCounts: readonly number[], maxLength: number, bins = 16): LengthBin[] {
  let longest = 0;
  lengthCounts.forEach((c, n) => {
    if (c > 0) longest = n;
  });
  const top = Math.max(maxLength, longest, 1);
  const beyond = top - maxLength;
  const below = beyond === 0 ? bins : Math.min(bins - 1, Math.max(1, Math.round((bins * maxLength) / top)));
  const out: LengthBin[] = [];
  const segment = (lo: number, hi: number, n: number, truncated: boolean) => {
    const width = Math.max(1, Math.ceil((hi - lo + 1) / n));
    for (let from = lo; from <= hi; from += width) {
      const to = Math.min(from + width - 1, hi);
      let count = 0;
      for (let k = from; k <= to; k++) count += lengthCounts[k] ?? 0;
      out.push({ from, to, count, truncated });
    }
  };
  segment(1, maxLength, below, false);
  if (beyond > 0) segment(maxLength + 1, top, bins - below, true);
  return out;
}
