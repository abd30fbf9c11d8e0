import { z } from "zod";

/** Field builders shared by the config's section files (config_*.ts). */

/** An integer of at least `min`. @example int(1).default(4) */
export const int = (min: number) => z.number().int().min(min);

/** A number above 0. @example positive().default(1e-3) */
export const positive = () => z.number().positive();
