import { amazonAdsSimulator } from './amazon-ads/index.ts';
import { amazonBusinessSimulator } from './amazon-business/index.ts';
import { cm360Simulator } from './cm360/index.ts';
import type { SimulatorFactory } from './index.ts';
import { spApiSimulator } from './sp-api/index.ts';

/** The provider simulators `npm start` runs; a provider's simulator is listed once it exists. */
export const SIMULATORS: readonly SimulatorFactory[] = [
  amazonAdsSimulator,
  amazonBusinessSimulator,
  spApiSimulator,
  cm360Simulator,
];
