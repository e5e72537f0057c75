/** The README's example, compiled with the package (never run): the documented API type-checks. */
import { Publisher, subscribeTerminal } from "../src/index";

export async function example(): Promise<string> {
  const sub = await subscribeTerminal((ev) => {
    if (ev.contract === "processing.completed") console.log(ev.record.payload.metadata?.volume);
    else console.log("failed", ev.record.payload.error.code);
  });
  const publisher = Publisher.create();
  const scanId = await publisher.publishScan({ bucket: "models", prefix: "incoming/" });
  await publisher.close();
  await sub.close();
  return scanId;
}
