import { longestWriteGapMs, type WriteAttempt } from '../../lib/load/write-load';
import { percentile, writeTimeline } from '../../lib/report-page/timeline';

const ack = (id: string, sentAt: number, doneAt: number): WriteAttempt => ({ id, sentAt, doneAt, acknowledged: true });
const fail = (id: string, sentAt: number, doneAt: number): WriteAttempt => ({ id, sentAt, doneAt, acknowledged: false, error: 'ECONNRESET' });

/** A steady load: one write acknowledged every `every` ms, each taking `latency` ms, from..to. */
function steady(from: number, to: number, every: number, latency: number, prefix = 'w'): WriteAttempt[] {
  const attempts: WriteAttempt[] = [];
  for (let t = from; t < to; t += every) attempts.push(ack(`${prefix}${t}`, t, t + latency));
  return attempts;
}

const sum = (list: number[]) => list.reduce((a, b) => a + b, 0);

describe('percentile (nearest rank)', () => {
  test('returns a value that was measured, never an interpolation', () => {
    const values = [1, 2, 3, 4, 5, 6, 7, 8, 9, 100];
    expect(percentile(values, 50)).toBe(5);
    expect(percentile(values, 99)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNull();
  });
});

describe('writeTimeline', () => {
  // GIVEN a 20 s load (origin 1_000_000) with the switch from +10 000 to +10 250 ms
  const origin = 1_000_000;
  const switchWindow = { from: origin + 10_000, to: origin + 10_250 };
  const before = steady(origin, switchWindow.from - 20, 10, 2, 'b');
  // writes sent during the freeze wait and are acknowledged together once traffic moved
  const held = [ack('h1', switchWindow.from - 10, switchWindow.to + 30), ack('h2', switchWindow.from, switchWindow.to + 31)];
  const failedInSwitch = [fail('f1', switchWindow.from + 5, switchWindow.from + 20)];
  const after = steady(switchWindow.to + 60, origin + 20_000, 10, 3, 'a');
  const attempts = [...before, ...held, ...failedInSwitch, ...after];
  const timeline = writeTimeline(attempts, { startedAt: origin, stoppedAt: origin + 20_000, gapWindow: switchWindow, focus: switchWindow });

  test('every finished attempt is counted exactly once, as acknowledged or failed', () => {
    expect(sum(timeline.acknowledged)).toBe(attempts.filter((a) => a.acknowledged).length);
    expect(sum(timeline.failed)).toBe(1);
  });

  test('buckets tile the run without gaps or overlaps, from the load start to its end', () => {
    expect(timeline.originMs).toBe(origin);
    expect(timeline.bucketStartMs[0]).toBe(0);
    for (let i = 1; i < timeline.bucketStartMs.length; i += 1) {
      expect(timeline.bucketStartMs[i]).toBeCloseTo(timeline.bucketStartMs[i - 1] + timeline.bucketWidthMs[i - 1], 5);
    }
    const last = timeline.bucketStartMs.length - 1;
    expect(timeline.bucketStartMs[last] + timeline.bucketWidthMs[last]).toBeCloseTo(20_000, 5);
  });

  test('buckets are 100 ms around the switch and coarser elsewhere, so the run stays a few hundred buckets', () => {
    const widthAt = (offset: number) => timeline.bucketWidthMs[timeline.bucketStartMs.findIndex((start, i) => offset >= start && offset < start + timeline.bucketWidthMs[i])];
    expect(widthAt(10_000)).toBe(100);
    expect(widthAt(8_100)).toBe(100); // 2 s before the switch
    expect(widthAt(12_200)).toBe(100); // 2 s after it
    expect(widthAt(1_000)).toBe(timeline.coarseBucketMs);
    expect(timeline.coarseBucketMs).toBeGreaterThan(100);
    expect(timeline.bucketStartMs.length).toBeLessThan(300);
  });

  test('no acknowledgement lands in the buckets inside the write gap; the failed write does', () => {
    const gap = timeline.writeGap!;
    const inside = timeline.bucketStartMs.map((start, i) => i).filter((i) => timeline.bucketStartMs[i] >= gap.fromMs && timeline.bucketStartMs[i] + timeline.bucketWidthMs[i] <= gap.toMs);
    expect(inside.length).toBeGreaterThanOrEqual(2);
    expect(inside.map((i) => timeline.acknowledged[i])).toEqual(inside.map(() => 0));
    expect(sum(inside.map((i) => timeline.failed[i]))).toBe(1);
  });

  test('the marked write gap has the length the report states as writeUnavailableMs', () => {
    const gap = timeline.writeGap!;
    expect(gap.toMs - gap.fromMs).toBeCloseTo(longestWriteGapMs(attempts, switchWindow, origin + 20_000), 1);
    // from the last acknowledgement before the freeze to the first after traffic moved
    expect(gap.fromMs).toBe(9_972);
    expect(gap.toMs).toBe(10_280);
  });

  test('latency percentiles are per bucket, from acknowledged writes only', () => {
    const heldBucket = timeline.acknowledged.findIndex((count, i) => count === 2 && timeline.bucketStartMs[i] >= 10_000);
    expect(heldBucket).toBeGreaterThan(-1);
    // h1 waited 290 ms, h2 281 ms: p50 is the smaller, p99 and max the larger
    expect(timeline.latencyP50Ms[heldBucket]).toBe(281);
    expect(timeline.latencyP99Ms[heldBucket]).toBe(290);
    expect(timeline.latencyMaxMs[heldBucket]).toBe(290);
    expect(timeline.latencyP50Ms[0]).toBe(2);
    const afterBucket = timeline.bucketStartMs.findIndex((start) => start >= 15_000);
    expect(timeline.latencyP99Ms[afterBucket]).toBe(3);
    const empty = timeline.acknowledged.findIndex((count) => count === 0);
    expect(timeline.latencyP50Ms[empty]).toBeNull();
  });

  test('a long switch (dump and restore) gets fine buckets around its start and its end only', () => {
    const long = { from: origin + 5_000, to: origin + 60_000 };
    const t = writeTimeline(steady(origin, origin + 70_000, 50, 1), { startedAt: origin, stoppedAt: origin + 70_000, gapWindow: long, focus: long });
    const widthAt = (offset: number) => t.bucketWidthMs[t.bucketStartMs.findIndex((start, i) => offset >= start && offset < start + t.bucketWidthMs[i])];
    expect(widthAt(5_000)).toBe(100);
    expect(widthAt(60_000)).toBe(100);
    expect(widthAt(30_000)).toBe(t.coarseBucketMs);
    expect(t.bucketStartMs.length).toBeLessThan(300);
  });

  test('without a switch (it never started) every bucket is coarse', () => {
    const t = writeTimeline(steady(origin, origin + 10_000, 10, 1), { startedAt: origin, stoppedAt: origin + 10_000, gapWindow: { from: origin, to: origin + 10_000 } });
    expect(new Set(t.bucketWidthMs.slice(0, -1))).toEqual(new Set([t.coarseBucketMs]));
  });

  test('a load that never got a write acknowledged has no gap to mark and still one bucket', () => {
    const t = writeTimeline([], { startedAt: origin, stoppedAt: origin, gapWindow: { from: origin, to: origin } });
    expect(t.writeGap).toBeNull();
    expect(t.bucketStartMs).toHaveLength(1);
    expect(t.acknowledged).toEqual([0]);
  });

  test('a run far longer than an argument list is bucketed (no spread of every attempt)', () => {
    const many = steady(origin, origin + 600_000, 2, 1); // 300 000 attempts
    const t = writeTimeline(many, { startedAt: origin, stoppedAt: origin + 600_000, gapWindow: { from: origin, to: origin + 1 } });
    expect(sum(t.acknowledged)).toBe(300_000);
    expect(t.bucketStartMs.length).toBeLessThanOrEqual(151);
  });
});
