import { z } from 'zod';

/** AWS platform settings of a cutover environment (issue 5 extends this). */
export const awsSettingsSchema = z
  .object({
    region: z.string().regex(/^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$/, { error: 'expected an AWS region such as "eu-west-1"' }),
  })
  .strict();
