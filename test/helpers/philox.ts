/**
 * The TypeScript Philox reference the tests check the native stream with: the js backend's
 * own (src/backends/js/philox.ts), itself checked against Random123's known answers.
 */
export { philox4x32_10, streamWords } from "../../src/backends/js/philox.js";
