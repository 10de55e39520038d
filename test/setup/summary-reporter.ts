import type { Reporter, TestModule } from 'vitest/node'

/**
 * Ends every run with the line CI reads: `N passed, N failed` (and skipped, when any). A suite or a file
 * that failed with no failed test of its own (a `beforeAll` or `afterAll` hook that threw, which leaves
 * its tests skipped) counts as one failure, so that the line never says 0 failed for a red run.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    let passed = 0
    let failed = unhandledErrors.length
    let skipped = 0
    for (const module of testModules) {
      let failedHere = 0
      for (const test of module.children.allTests()) {
        const state = test.result().state
        if (state === 'passed') passed++
        else if (state === 'failed') failedHere++
        else skipped++
      }
      for (const suite of module.children.allSuites()) {
        const testFailed = [...suite.children.allTests()].some((test) => test.result().state === 'failed')
        if (suite.state() === 'failed' && !testFailed) failedHere++
      }
      if (module.state() === 'failed' && failedHere === 0) failedHere = 1
      failed += failedHere
    }
    process.stdout.write(`\n${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}\n`)
  }
}
