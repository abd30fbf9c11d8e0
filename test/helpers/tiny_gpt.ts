/** `--set` flags that make examples/gpt-char.json tiny: one narrow block (4 heads), a short context, batches of 4, 3 steps. */
export const TINY_GPT_CHAR = [
  "model.layers=1",
  "model.width=32",
  "model.context=16",
  "data.batchSize=4",
  "data.valBatches=1",
  "train.steps=3",
  "train.evalEvery=3",
  "schedule.warmup=1",
].flatMap((s) => ["--set", s]);
