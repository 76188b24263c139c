/**
 * Group commit for a hot path: calls with the same key that arrive while a
 * batch of that key is in flight are run together, as the next batch, by one
 * `run` call (one SQL statement, one Redis script). At low load a call runs
 * alone, one event-loop turn later (calls made in the same turn share it);
 * under load the batches grow by themselves, so N concurrent callers cost a
 * few round trips instead of N, and callers that would serialise anyway (on
 * one row lock, say) stop queueing for pool connections one by one.
 *
 * Freshness: a batch is sent after every one of its calls was made, so it
 * sees everything those callers could have seen had they queried alone.
 */
export interface BatcherOptions {
  /** Largest batch; more calls wait for the next one (default 256). */
  maxBatch?: number;
  /** Batches of one key in flight at once (default 1). */
  maxInFlight?: number;
}

interface Pending<I, O> {
  item: I;
  resolve: (o: O) => void;
  reject: (e: unknown) => void;
}

interface KeyState<I, O> {
  queue: Array<Pending<I, O>>;
  inFlight: number;
  scheduled: boolean;
}

/**
 * `run(key, items)` must return one result per item, in order (or throw:
 * every call of that batch then rejects with the error).
 */
export function keyedBatcher<I, O>(
  run: (key: string, items: I[]) => Promise<O[]>,
  opts: BatcherOptions = {},
): (key: string, item: I) => Promise<O> {
  const maxBatch = opts.maxBatch ?? 256;
  const maxInFlight = opts.maxInFlight ?? 1;
  const keys = new Map<string, KeyState<I, O>>();

  const pump = (key: string, st: KeyState<I, O>) => {
    st.scheduled = false;
    while (st.inFlight < maxInFlight && st.queue.length > 0) {
      const batch = st.queue.splice(0, maxBatch);
      st.inFlight++;
      void (async () => {
        try {
          const out = await run(key, batch.map((p) => p.item));
          if (out.length !== batch.length) throw new Error(`batch of ${batch.length} returned ${out.length} results`);
          batch.forEach((p, i) => p.resolve(out[i]!));
        } catch (err) {
          for (const p of batch) p.reject(err);
        } finally {
          st.inFlight--;
          if (st.queue.length > 0) schedule(key, st);
          else if (st.inFlight === 0) keys.delete(key);
        }
      })();
    }
  };
  const schedule = (key: string, st: KeyState<I, O>) => {
    if (st.scheduled) return;
    st.scheduled = true;
    setImmediate(() => pump(key, st));
  };

  return (key, item) =>
    new Promise<O>((resolve, reject) => {
      let st = keys.get(key);
      if (!st) keys.set(key, (st = { queue: [], inFlight: 0, scheduled: false }));
      st.queue.push({ item, resolve, reject });
      if (st.inFlight < maxInFlight) schedule(key, st);
    });
}
