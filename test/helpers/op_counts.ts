import { setOpObserver } from "../../src/autograd/observer.js";

/** Counts the forward runs of each op while fn runs. */
export function countOps(fn: () => void): Map<string, number> {
  const counts = new Map<string, number>();
  const previous = setOpObserver({
    around: (op, phase, run) => {
      if (phase === "forward") counts.set(op, (counts.get(op) ?? 0) + 1);
      return run();
    },
  });
  try {
    fn();
  } finally {
    setOpObserver(previous);
  }
  return counts;
}
