/**
 * Dev metrics of a regression task (GLUE's STS-B reports Pearson and Spearman correlation; Wang et al. 2018):
 * plain float64 arithmetic on read-back predictions. Pure.
 */

/** Pearson correlation of x and y (same length); NaN when either is constant or there are < 2 points. */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  if (n !== y.length) throw new RangeError(`pearson: ${n} values against ${y.length}`);
  if (n < 2) return NaN;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i] as number;
    my += y[i] as number;
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = (x[i] as number) - mx;
    const dy = (y[i] as number) - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxx === 0 || syy === 0 ? NaN : sxy / Math.sqrt(sxx * syy);
}

/** 1-based ranks, ties sharing their mean rank (scipy.stats.rankdata's 'average'). */
export function ranks(x: ArrayLike<number>): Float64Array {
  const n = x.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => (x[a] as number) - (x[b] as number));
  const r = new Float64Array(n);
  for (let i = 0; i < n;) {
    let j = i;
    while (j + 1 < n && x[order[j + 1] as number] === x[order[i] as number]) j++;
    const mean = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) r[order[k] as number] = mean;
    i = j + 1;
  }
  return r;
}

/** Spearman rank correlation: Pearson of the average ranks. */
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): number {
  return pearson(ranks(x), ranks(y));
}

/** Mean squared error. */
export function meanSquaredError(pred: ArrayLike<number>, target: ArrayLike<number>): number {
  if (pred.length !== target.length)
    throw new RangeError(`mse: ${pred.length} values against ${target.length}`);
  let s = 0;
  for (let i = 0; i < pred.length; i++) s += ((pred[i] as number) - (target[i] as number)) ** 2;
  return pred.length === 0 ? NaN : s / pred.length;
}
