import type { SimulatorFactory } from './index.ts';

/** The provider simulators `npm start` runs; a provider's simulator is listed once it exists. */
export const SIMULATORS: readonly SimulatorFactory[] = [];
