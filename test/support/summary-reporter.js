/**
 * Prints the plain closing line "N passed, N failed, N skipped" as the very last line of the
 * run (after Jest's own summary, hence on exit), so CI and people skimming logs read one
 * unambiguous count.
 */
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    const line = `${results.numPassedTests} passed, ${failed} failed, ${skipped} skipped\n`;
    process.once('exit', () => process.stderr.write(line));
  }
}
module.exports = SummaryReporter;
