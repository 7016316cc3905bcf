// Placeholder until the handler frame lands: accepts the event and reports no failures.
export const handler = async (_event: unknown) => ({ statusCode: 501, body: "not yet" });
