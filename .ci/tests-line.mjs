// `node .ci/tests-line.mjs LABEL REPORT...`: the plain closing line CI readers understand,
// "LABEL: N passed, N failed, N skipped", from vitest's JSON reports, summed over every report given.
// A report that is missing or unreadable (the runner died before writing it) counts as one failure.
import { readFileSync } from 'node:fs';

const [label, ...reports] = process.argv.slice(2);
let passed = 0;
let failed = 0;
let skipped = 0;
for (const file of reports) {
  try {
    const r = JSON.parse(readFileSync(file, 'utf8'));
    passed += r.numPassedTests;
    failed += r.numFailedTests;
    skipped += r.numPendingTests + r.numTodoTests;
  } catch (err) {
    console.error(`tests-line: no vitest report in ${file} (${err.message}); counted as one failure`);
    failed += 1;
  }
}
console.log(`${label}: ${passed} passed, ${failed} failed, ${skipped} skipped`);
