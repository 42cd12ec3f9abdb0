/**
 * Prints the plain closing line "N passed, N failed, N skipped" after Jest's own summary,
 * so CI (and people skimming logs) read one unambiguous count.
 */
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const failedSuites = results.numRuntimeErrorTestSuites;
    process.stderr.write(`\n${results.numPassedTests} passed, ${results.numFailedTests + failedSuites} failed, ${skipped} skipped\n`);
  }
}
module.exports = SummaryReporter;
