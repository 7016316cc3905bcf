import { reconcilerHandler } from '../../shared/runtime/reconciler-handler.ts';

/** Settles runs whose messages stopped moving; run by its schedule (infra/aws/reconciler-schedule.ts). */
export const handler = reconcilerHandler();
