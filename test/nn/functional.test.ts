import { batchNorm2d } from "../../src/nn/normalization.js";
import { klDivLoss, mseLoss } from "../../src/nn/loss.js";
import { ones, zeros } from "../../src/tensor/create.js";
import { checkOpFixtures } from "../helpers/op_fixtures.js";

checkOpFixtures("batch_norm", ({ x, w, b, rm, rv }, attrs) => {
  const channels = x!.shape[1]!;
  return attrs.eval ? batchNorm2d(x!, rm!, rv!, w!, b!, { training: false }) : batchNorm2d(x!, zeros([channels]), ones([channels]), w!, b!, { training: true });
});

checkOpFixtures("batch_norm_running", ({ x }) => {
  const channels = x!.shape[1]!;
  const mean = zeros([channels]),
    variance = ones([channels]);
  batchNorm2d(x!, mean, variance, null, null, { training: true });
  return [mean, variance];
});

checkOpFixtures("mse_loss", ({ p, t }, { reduction }) => mseLoss(p!, t!, reduction));
checkOpFixtures("kl_distill", ({ s, t }, { temperature }) => klDivLoss(s!, t!, temperature));
