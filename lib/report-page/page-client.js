/*
 * The report page's charts (runs in the browser; inlined by lib/report-page/html.ts after uPlot).
 * Reads the report from #report-data and draws: writes/s around the switch (100 ms buckets), over
 * the whole run, and write latency. Bands behind the curves: runbook steps, switch phases, the
 * write gap; a line on top: the instant traffic moved. A rehearsal that switched back
 * (report.switchBack) gets the same for the switch back: its own close-up, its steps, phases and
 * write gap, and a second marker where traffic moved back. Every number drawn comes from the report:
 * nothing is interpolated or invented (no lag curve: the flows do not sample lag over time).
 * When done it sets <html data-report-page="rendered"> (or "error"), which the browser test reads.
 */
(function () {
  'use strict';
  var root = document.documentElement;
  var COLORS = {
    acknowledged: '#1f7a3a',
    failed: '#d92d20',
    moved: '#c026d3',
    movedBack: '#0e7490',
    aborted: '#b35c00',
    gap: 'rgba(217,45,32,0.22)',
    phases: ['rgba(245,158,11,0.35)', 'rgba(245,158,11,0.18)'],
    steps: ['rgba(107,143,214,0.20)', 'rgba(107,143,214,0.09)'],
    p50: '#2563eb',
    p99: '#d97706',
    max: '#9ca3af',
  };

  try {
    render();
    root.setAttribute('data-report-page', 'rendered');
  } catch (error) {
    root.setAttribute('data-report-page', 'error');
    console.error('report page: ' + ((error && error.stack) || error));
  }

  function number(value) {
    return typeof value === 'number' && isFinite(value) ? value : null;
  }

  function render() {
    var report = JSON.parse(document.getElementById('report-data').textContent);
    var timeline = report.timeline;
    if (!timeline) return;
    var facts = report.facts || {};
    var origin = timeline.originMs;
    var movedAt = number(facts.switchEndedAt);
    var switchStartedAt = number(facts.switchStartedAt);
    var abortedAt = number(facts.abortedAt);
    // x = 0 is the instant traffic moved; without a switch, the abort or the load's start.
    var zero = movedAt !== null ? movedAt : abortedAt !== null ? abortedAt : switchStartedAt !== null ? switchStartedAt : origin;
    var zeroName = movedAt !== null ? 'the instant traffic moved' : abortedAt !== null ? 'the abort' : switchStartedAt !== null ? 'the switch start' : 'the load start';

    // The switch back of a rehearsal with --switch-back: its own run, same load and timeline.
    var backFacts = (report.switchBack && report.switchBack.facts) || {};
    var backMovedAt = number(backFacts.switchEndedAt);
    var backStartedAt = number(backFacts.switchStartedAt);
    var backAbortedAt = number(backFacts.abortedAt);
    var hasBack = backStartedAt !== null || backMovedAt !== null;
    var backGap = timeline.backWriteGap;

    var bands = {
      gap: gapBands(timeline.writeGap, origin, 'write gap '),
      backGap: gapBands(backGap, origin, 'write gap back '),
      phases: phaseBands(facts.switchPhasesMs, switchStartedAt, movedAt),
      backPhases: phaseBands(backFacts.switchPhasesMs, backStartedAt, backMovedAt),
      steps: stepBands(report.steps, ''),
      backSteps: stepBands(report.switchBack && report.switchBack.steps, 'b'),
    };
    var markers = [];
    if (movedAt !== null) markers.push({ at: movedAt, color: COLORS.moved, label: 'traffic moved', flag: 'chart-switch' });
    if (abortedAt !== null) markers.push({ at: abortedAt, color: COLORS.aborted, label: 'aborted' });
    if (backMovedAt !== null) markers.push({ at: backMovedAt, color: COLORS.movedBack, label: 'traffic moved back', flag: 'chart-switch-back' });
    if (backAbortedAt !== null) markers.push({ at: backAbortedAt, color: COLORS.aborted, label: 'switch back aborted' });

    describeSwitch(document.getElementById('switch-marker-label'), 'Traffic moved', facts, movedAt, switchStartedAt, report.windows ? report.windows.forward.writeUnavailableMs : report.writeUnavailableMs);
    if (hasBack) describeSwitch(document.getElementById('switch-back-marker-label'), 'Traffic moved back', backFacts, backMovedAt, backStartedAt, report.windows ? report.windows.back.writeUnavailableMs : null);

    var width = Math.max(600, document.body.clientWidth - 8);
    var seconds = series(timeline, zero, 1000);
    var stepped = uPlot.paths.stepped({ align: 1 });

    var switchEl = document.getElementById('chart-switch');
    if (switchStartedAt !== null || movedAt !== null) {
      closeUp(switchEl, 'Around the switch', { startedAt: switchStartedAt, movedAt: movedAt, abortedAt: abortedAt, zero: zero, zeroName: zeroName }, [[bands.phases, COLORS.phases, true], [bands.gap, [COLORS.gap], true]]);
    } else {
      switchEl.textContent = 'The switch never started in this run: no close-up.';
      switchEl.className += ' note';
    }
    var backEl = document.getElementById('chart-switch-back');
    if (backEl && hasBack) {
      // Counted from the switch back's own start (the forward switch is seconds or days earlier).
      var backZero = backStartedAt !== null ? backStartedAt : backMovedAt;
      var backZeroName = backStartedAt !== null ? "the switch back's start" : 'the instant traffic moved back';
      closeUp(backEl, 'Around the switch back', { startedAt: backStartedAt, movedAt: backMovedAt, abortedAt: backAbortedAt, zero: backZero, zeroName: backZeroName }, [[bands.backPhases, COLORS.phases, true], [bands.backGap, [COLORS.gap], true]]);
    }

    /** A close-up of one switch window (100 ms buckets) with its phases, write gap and the markers; x counts from window.zero. */
    function closeUp(container, title, window, closeBands) {
      var zero = window.zero;
      var milliseconds = series(timeline, zero, 1);
      container.setAttribute('data-x-axis', 'ms from ' + window.zeroName); // uPlot draws the label on its canvas; the browser test reads it here
      // The switch and the write gap, with most of a second of steady writes either side.
      var gap = closeBands[1][0][0];
      var moved = window.movedAt;
      var start = window.startedAt;
      var focusStart = start !== null ? Math.max(start, (moved || start) - 3000) : moved;
      var focusEnd = moved !== null ? moved : window.abortedAt !== null ? window.abortedAt : start;
      var focusFrom = Math.min(focusStart, gap ? Math.max(gap.from, focusStart - 1000) : focusStart) - zero - 800;
      var focusTo = Math.max(focusEnd, gap ? Math.min(gap.to, focusEnd + 1000) : focusEnd) - zero + 800;
      chart(container, {
        title: title + ': writes per second (' + timeline.fineBucketMs + ' ms buckets)',
        width: width,
        height: 280,
        scales: { x: { time: false, auto: false, range: [focusFrom, focusTo] }, y: { range: zeroBased } },
        axes: [{ label: 'ms from ' + window.zeroName }, { label: 'writes/s', size: 60 }],
        series: [
          { label: 'ms' },
          { label: 'acknowledged/s', stroke: COLORS.acknowledged, fill: 'rgba(31,122,58,0.10)', width: 2, paths: stepped, points: { show: false } },
          { label: 'failed/s', stroke: COLORS.failed, fill: 'rgba(217,45,32,0.30)', width: 2, paths: stepped, points: { show: false } },
        ],
      }, [milliseconds.x, milliseconds.acknowledged, milliseconds.failed], { zero: zero, scale: 1, bands: closeBands, markers: markers });
    }

    chart(document.getElementById('chart-writes'), {
      title: 'Whole run: writes per second (' + timeline.coarseBucketMs + ' ms buckets, ' + timeline.fineBucketMs + ' ms around the switch)',
      width: width,
      height: 260,
      scales: { x: { time: false }, y: { range: zeroBased } },
      axes: [{ label: 's from ' + zeroName }, { label: 'writes/s', size: 60 }],
      series: [
        { label: 's' },
        { label: 'acknowledged/s', stroke: COLORS.acknowledged, fill: 'rgba(31,122,58,0.10)', width: 1.5, paths: stepped, points: { show: false } },
        { label: 'failed/s', stroke: COLORS.failed, fill: 'rgba(217,45,32,0.30)', width: 1.5, paths: stepped, points: { show: false } },
      ],
    }, [seconds.x, seconds.acknowledged, seconds.failed], { zero: zero, scale: 1000, bands: [[bands.steps, COLORS.steps, true], [bands.backSteps, COLORS.steps, true], [bands.gap.concat(bands.backGap), [COLORS.gap], false]], markers: markers });

    chart(document.getElementById('chart-latency'), {
      title: 'Write latency per bucket, sent → acknowledged (ms, log scale)',
      width: width,
      height: 240,
      scales: { x: { time: false }, y: { distr: 3 } },
      axes: [{ label: 's from ' + zeroName }, { label: 'ms', size: 60 }],
      series: [
        { label: 's' },
        { label: 'p50', stroke: COLORS.p50, width: 1.5, paths: stepped, spanGaps: false, points: { show: false } },
        { label: 'p99', stroke: COLORS.p99, width: 1.5, paths: stepped, spanGaps: false, points: { show: false } },
        { label: 'max', stroke: COLORS.max, width: 1, dash: [4, 3], paths: stepped, spanGaps: false, points: { show: false } },
      ],
    }, [seconds.x, seconds.p50, seconds.p99, seconds.max], { zero: zero, scale: 1000, bands: [[bands.steps.concat(bands.backSteps), COLORS.steps, false], [bands.gap.concat(bands.backGap), [COLORS.gap], false]], markers: markers });
  }

  /**
   * The switch phases as bands. Their durations are measured one after the other; they end
   * where traffic moved (true for every flow), so they are laid back from there; after an
   * abort (traffic never moved) forward from the switch start.
   */
  function phaseBands(phases, startedAt, movedAt) {
    if (!phases || typeof phases !== 'object') return [];
    var entries = Object.keys(phases).filter(function (name) { return typeof phases[name] === 'number'; }).map(function (name) { return [name, phases[name]]; });
    var total = entries.reduce(function (sum, entry) { return sum + entry[1]; }, 0);
    var t = movedAt !== null ? movedAt - total : startedAt;
    if (t === null) return [];
    return entries.map(function (entry) {
      var band = { from: t, to: t + entry[1], label: entry[0] };
      t += entry[1];
      return band;
    });
  }

  /** The write gap of a window as a band (offsets in the timeline are from its origin). */
  function gapBands(gap, origin, label) {
    return gap ? [{ from: origin + gap.fromMs, to: origin + gap.toMs, label: label + Math.round(gap.toMs - gap.fromMs) + ' ms' }] : [];
  }

  /** Runbook steps as bands, labelled with their number in the step table (prefix: b for the switch back's). */
  function stepBands(steps, prefix) {
    return (steps || []).map(function (step, index) {
      return typeof step.startedAt === 'number' ? { from: step.startedAt, to: step.startedAt + step.durationMs, label: prefix + String(index + 1) } : null;
    }).filter(Boolean);
  }

  function describeSwitch(label, moved, facts, movedAt, startedAt, unavailableMs) {
    if (!label) return;
    var parts = [];
    if (movedAt !== null) parts.push(moved + ' at ' + new Date(movedAt).toISOString() + ' (switchEndedAt)');
    if (startedAt !== null && movedAt !== null) parts.push('the switch started ' + (movedAt - startedAt).toFixed(1) + ' ms before');
    if (typeof unavailableMs === 'number') parts.push('writes were unavailable for ' + unavailableMs + ' ms');
    var around = facts.writeGapAroundSwitchMs;
    if (around && typeof around === 'object') {
      if (typeof around.lastAckBeforeSwitch === 'number') parts.push('last acknowledgement ' + around.lastAckBeforeSwitch + ' ms before the switch started');
      if (typeof around.acknowledgedDuringSwitch === 'number' && around.acknowledgedDuringSwitch > 0) parts.push(around.acknowledgedDuringSwitch + ' sent before the freeze took effect acknowledged inside the switch, the last ' + around.lastAckDuringSwitch + ' ms after it started');
      if (typeof around.firstAckAfterSwitch === 'number') parts.push('first ' + around.firstAckAfterSwitch + ' ms after traffic moved');
      if (typeof around.firstConnectAfterSwitch === 'number') parts.push('the first new connection got in ' + around.firstConnectAfterSwitch + ' ms after traffic moved');
    }
    if (typeof facts.abortedAt === 'number') parts.push('the run aborted at ' + new Date(facts.abortedAt).toISOString() + ': traffic never moved');
    label.textContent = parts.length > 0 ? parts.join('; ') + '.' : 'No switch in this run.';
  }

  /** Rates per second from counts per bucket; x at each bucket's start plus the end (stepped lines). */
  function series(timeline, zero, scale) {
    var out = { x: [], acknowledged: [], failed: [], p50: [], p99: [], max: [] };
    var positive = function (value) { return typeof value === 'number' && value > 0 ? value : null; };
    for (var i = 0; i < timeline.bucketStartMs.length; i += 1) {
      var perSecond = 1000 / timeline.bucketWidthMs[i];
      out.x.push((timeline.originMs + timeline.bucketStartMs[i] - zero) / scale);
      out.acknowledged.push(timeline.acknowledged[i] * perSecond);
      out.failed.push(timeline.failed[i] * perSecond);
      out.p50.push(positive(timeline.latencyP50Ms[i]));
      out.p99.push(positive(timeline.latencyP99Ms[i]));
      out.max.push(positive(timeline.latencyMaxMs[i]));
    }
    var last = timeline.bucketStartMs.length - 1;
    out.x.push((timeline.originMs + timeline.bucketStartMs[last] + timeline.bucketWidthMs[last] - zero) / scale);
    ['acknowledged', 'failed', 'p50', 'p99', 'max'].forEach(function (key) { out[key].push(out[key][out[key].length - 1]); });
    return out;
  }

  function zeroBased(u, min, max) {
    return [0, max > 0 ? max * 1.12 : 1];
  }

  /**
   * One uPlot chart. overlay.bands: [bands, fill colours (alternating), label them]; behind the
   * series. overlay.markers: vertical lines on top. The switch marker's canvas position is
   * written to the container (data-switch-marker-x/y, device pixels) for the browser test.
   */
  function chart(container, options, data, overlay) {
    var ratio = uPlot.pxRatio;
    var toX = function (u, wallClock) { return u.valToPos((wallClock - overlay.zero) / overlay.scale, 'x', true); };
    var clip = function (u) {
      var ctx = u.ctx;
      ctx.save();
      ctx.beginPath();
      ctx.rect(u.bbox.left, u.bbox.top, u.bbox.width, u.bbox.height);
      ctx.clip();
      return ctx;
    };
    options.hooks = {
      drawClear: [function (u) {
        var ctx = clip(u);
        overlay.bands.forEach(function (group, groupIndex) {
          var list = group[0];
          var fills = group[1];
          list.forEach(function (band, index) {
            var left = toX(u, band.from);
            var right = Math.max(left + ratio, toX(u, band.to));
            ctx.fillStyle = fills[index % fills.length];
            ctx.fillRect(left, u.bbox.top, right - left, u.bbox.height);
            ctx.font = 11 * ratio + 'px sans-serif';
            ctx.textAlign = 'left';
            ctx.textBaseline = 'alphabetic';
            // A label only where it fits whole (the phase table names the narrow ones); each
            // group on its own line so that labels of overlapping bands do not collide.
            if (group[2] && ctx.measureText(band.label).width + 4 * ratio <= right - left) {
              ctx.fillStyle = '#374151';
              ctx.fillText(band.label, left + 2 * ratio, u.bbox.top + (12 + 13 * groupIndex) * ratio);
            }
          });
        });
        ctx.restore();
      }],
      draw: [function (u) {
        var ctx = clip(u);
        overlay.markers.forEach(function (marker) {
          var x = toX(u, marker.at);
          if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) return;
          ctx.fillStyle = marker.color;
          ctx.fillRect(x - ratio, u.bbox.top, 2 * ratio, u.bbox.height);
          ctx.font = 'bold ' + 12 * ratio + 'px sans-serif';
          ctx.textAlign = 'left';
          ctx.textBaseline = 'alphabetic';
          // below the band labels (three rows), clear of the curves' usual baseline
          ctx.fillText(marker.label, x + 4 * ratio, u.bbox.top + 44 * ratio);
          if (marker.flag === container.id) {
            container.setAttribute('data-switch-marker-value', String((marker.at - overlay.zero) / overlay.scale));
            container.setAttribute('data-switch-marker-x', String(Math.round(x)));
            container.setAttribute('data-switch-marker-y', String(Math.round(u.bbox.top + u.bbox.height / 2)));
          }
        });
        ctx.restore();
      }],
    };
    return new uPlot(options, data, container);
  }
})();
