import type { WriteAttempt } from '../load/write-load';

/**
 * The write load as a compact timeline for the report page: counts and latency percentiles per
 * time bucket, never the attempts themselves (a rehearsal makes tens of thousands of them).
 * Buckets are fine (100 ms) around the switch, where the gap is, and coarser elsewhere so a long
 * run stays a few hundred buckets. Columns (one array per measure) because that is what a chart
 * takes, and it keeps report.json short.
 */
export interface WriteTimeline {
  /** Wall-clock ms every offset below counts from: the load's start. */
  originMs: number;
  /** Width of the buckets around the switch, and elsewhere (ms). */
  fineBucketMs: number;
  coarseBucketMs: number;
  /** Each bucket's start, as an offset from originMs (ms). */
  bucketStartMs: number[];
  bucketWidthMs: number[];
  /** Writes whose outcome arrived in the bucket (by completion time). */
  acknowledged: number[];
  failed: number[];
  /** Latency (sent → acknowledged) of the writes acknowledged in the bucket; null if none. */
  latencyP50Ms: Array<number | null>;
  latencyP99Ms: Array<number | null>;
  latencyMaxMs: Array<number | null>;
  /**
   * The longest gap between acknowledgements that overlaps the switch window (the same rule as
   * the report's writeUnavailableMs), as offsets from originMs; null without acknowledgements.
   */
  writeGap: { fromMs: number; toMs: number } | null;
  /**
   * A rehearsal that switched back: the same for the switch back's window (report.switchBack),
   * as offsets from originMs; absent when there was no switch back.
   */
  backWriteGap?: { fromMs: number; toMs: number } | null;
}

export interface WriteTimelineOptions {
  /** Wall-clock ms the load started and stopped. */
  startedAt: number;
  stoppedAt: number;
  /** The window whose longest write gap is reported (switch start → end, or → abort). */
  gapWindow: { from: number; to: number };
  /** Where to use fine buckets: the switch, and the switch back (absent when no switch started). */
  focus?: { from: number; to: number } | Array<{ from: number; to: number }>;
  /** The switch back's window, whose longest write gap is reported as backWriteGap. */
  backGapWindow?: { from: number; to: number };
  fineBucketMs?: number;
  /** The coarse width is the smallest of these giving at most maxCoarseBuckets over the run. */
  maxCoarseBuckets?: number;
}

/** Fine buckets this long before the switch starts and after it ends. */
const FOCUS_MARGIN_MS = 2000;
/** A switch longer than this (a dump/restore) gets fine buckets only around its two ends. */
const LONGEST_FINE_SPAN_MS = 6000;
const COARSE_WIDTHS_MS = [250, 500, 1000, 2000, 5000, 10000, 30000, 60000, 300000];

const tenth = (value: number) => Math.round(value * 10) / 10;

/** Nearest-rank percentile of an ascending list (no interpolation: a value that was measured). */
export function percentile(sortedAscending: number[], p: number): number | null {
  if (sortedAscending.length === 0) return null;
  const rank = Math.max(1, Math.ceil((p / 100) * sortedAscending.length));
  return sortedAscending[rank - 1];
}

function fineWindows(focus: WriteTimelineOptions['focus'], start: number, end: number, fine: number): Array<{ from: number; to: number }> {
  if (!focus) return [];
  const spans = (Array.isArray(focus) ? focus : [focus])
    .flatMap((f) => (f.to - f.from <= LONGEST_FINE_SPAN_MS ? [{ from: f.from, to: f.to }] : [{ from: f.from, to: f.from }, { from: f.to, to: f.to }]))
    .sort((a, b) => a.from - b.from);
  const windows: Array<{ from: number; to: number }> = [];
  for (const span of spans) {
    // On the fine grid from the start, so that every fine bucket is whole.
    const from = Math.max(start, start + Math.floor((span.from - FOCUS_MARGIN_MS - start) / fine) * fine);
    const to = Math.min(end, start + Math.ceil((span.to + FOCUS_MARGIN_MS - start) / fine) * fine);
    if (to <= from) continue;
    const last = windows[windows.length - 1];
    if (last && from <= last.to) last.to = Math.max(last.to, to);
    else windows.push({ from, to });
  }
  return windows;
}

/** Bucket boundaries (wall-clock ms) from start to end: fine inside the windows, coarse outside. */
function boundaries(start: number, end: number, windows: Array<{ from: number; to: number }>, fine: number, coarse: number): number[] {
  const edges = [start];
  let t = start;
  while (t < end) {
    const inside = windows.find((w) => t >= w.from && t < w.to);
    const nextWindow = windows.find((w) => w.from > t);
    const next = inside ? Math.min(t + fine, inside.to) : Math.min(t + coarse, nextWindow?.from ?? Infinity, end);
    edges.push(next);
    t = next;
  }
  if (edges.length === 1) edges.push(start + fine); // an empty load still gets one bucket
  return edges;
}

/** Index of the bucket holding `time`: the last edge ≤ time, clamped to the buckets. */
function bucketOf(edges: number[], time: number): number {
  let low = 0;
  let high = edges.length - 2;
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    if (edges[middle] <= time) low = middle;
    else high = middle - 1;
  }
  return low;
}

/**
 * The longest gap between consecutive acknowledgements overlapping the window, with where it
 * lies; runs to the load's end when writes never came back (as longestWriteGapMs counts it).
 */
export function longestWriteGap(attempts: WriteAttempt[], window: { from: number; to: number }, loadEnd: number): { from: number; to: number } | null {
  const times = [...attempts.filter((a) => a.acknowledged).map((a) => a.doneAt).sort((a, b) => a - b), loadEnd];
  let longest: { from: number; to: number } | null = null;
  for (let i = 1; i < times.length; i += 1) {
    const [from, to] = [times[i - 1], times[i]];
    if (to >= window.from && from <= window.to && (!longest || to - from > longest.to - longest.from)) longest = { from, to };
  }
  return longest;
}

export function writeTimeline(attempts: WriteAttempt[], options: WriteTimelineOptions): WriteTimeline {
  const finished = attempts.filter((a) => a.doneAt > 0);
  // A loop, not Math.min(...list): a long run has more attempts than a call takes arguments.
  let start = options.startedAt;
  let end = options.stoppedAt;
  for (const attempt of finished) {
    start = Math.min(start, attempt.doneAt);
    end = Math.max(end, attempt.doneAt);
  }
  const fine = options.fineBucketMs ?? 100;
  const maxCoarse = options.maxCoarseBuckets ?? 150;
  const coarse = COARSE_WIDTHS_MS.find((width) => (end - start) / width <= maxCoarse) ?? COARSE_WIDTHS_MS[COARSE_WIDTHS_MS.length - 1];
  const edges = boundaries(start, end, fineWindows(options.focus, start, end, fine), fine, coarse);
  const count = edges.length - 1;
  const acknowledged = new Array<number>(count).fill(0);
  const failed = new Array<number>(count).fill(0);
  const latencies: number[][] = Array.from({ length: count }, () => []);
  for (const attempt of finished) {
    const bucket = bucketOf(edges, attempt.doneAt);
    if (attempt.acknowledged) {
      acknowledged[bucket] += 1;
      latencies[bucket].push(attempt.doneAt - attempt.sentAt);
    } else {
      failed[bucket] += 1;
    }
  }
  for (const list of latencies) list.sort((a, b) => a - b);
  const rounded = (value: number | null) => (value === null ? null : tenth(value));
  const gap = longestWriteGap(finished, options.gapWindow, options.stoppedAt);
  const backGap = options.backGapWindow ? longestWriteGap(finished, options.backGapWindow, options.stoppedAt) : undefined;
  return {
    originMs: start,
    fineBucketMs: fine,
    coarseBucketMs: coarse,
    bucketStartMs: edges.slice(0, -1).map((edge) => tenth(edge - start)),
    bucketWidthMs: edges.slice(1).map((edge, i) => tenth(edge - edges[i])),
    acknowledged,
    failed,
    latencyP50Ms: latencies.map((list) => rounded(percentile(list, 50))),
    latencyP99Ms: latencies.map((list) => rounded(percentile(list, 99))),
    latencyMaxMs: latencies.map((list) => rounded(list.length > 0 ? list[list.length - 1] : null)),
    writeGap: gap ? { fromMs: tenth(gap.from - start), toMs: tenth(gap.to - start) } : null,
    ...(backGap !== undefined ? { backWriteGap: backGap ? { fromMs: tenth(backGap.from - start), toMs: tenth(backGap.to - start) } : null } : {}),
  };
}
