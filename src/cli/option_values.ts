import { InvalidArgumentError } from "commander";

/**
 * Parsers of numeric option values for commander: a value that is not allowed is refused with
 * what is allowed, which commander reports as "option '--tokens <n>' argument 'x' is invalid".
 */

/**
 * An integer option value of at least `min`.
 * @example program.option("--tokens <n>", "characters to generate", integerAtLeast(0), 500)
 */
export function integerAtLeast(min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`expected an integer ≥ ${min}`);
    return n;
  };
}

/**
 * An integer option value from `min` to `max`.
 * @example program.option("--threads <n>", "kernel threads", integerIn(1, 1024), 2)
 */
export function integerIn(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    return n;
  };
}

/**
 * A finite number option value of at least `min`.
 * @example program.option("--temperature <t>", "softmax temperature (0: greedy)", numberAtLeast(0), 0.8)
 */
export function numberAtLeast(min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n) || n < min) throw new InvalidArgumentError(`expected a number ≥ ${min}`);
    return n;
  };
}
