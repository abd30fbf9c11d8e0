// Read by host_access.test.ts's type-aware check (never run): line 8 reads a tensor's storage
// directly, the other `.data` reads are fields of plain objects.
import { Tensor } from "../../src/tensor/tensor.js";

const grad = Tensor.empty([2], "float32", "gradient");
const shape = { data: 2, tensor: 1 };
const piece = { start: 0, data: grad };
export const direct = grad.data;
export const field = shape.data + piece.start;
export const host = piece.data.toHost();
