/**
 * The V8 flags Lambda's Node.js runtime starts a function with, from its memory setting: its bootstrap gives
 * a tenth of the memory to the young generation (two semi-spaces) and the rest to the old space. V8 sizes
 * both from the machine otherwise, and on a large one Node 24 takes young generations far bigger than a
 * function's: a child measured for a function's memory runs with these.
 */
export function lambdaNodeFlags(memoryMb: number): string[] {
  const newSpace = Math.floor(memoryMb / 10);
  return [`--max-semi-space-size=${Math.floor(newSpace / 2)}`, `--max-old-space-size=${memoryMb - newSpace}`];
}
