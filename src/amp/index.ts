export { autocast, autocastDType, type AutocastOptions } from "./autocast.js";
export { AUTOCAST_POLICY, type CastPolicy, type LowPrecision } from "./policy.js";
