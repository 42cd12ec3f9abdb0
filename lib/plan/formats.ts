/** The plan's output formats (`--plan-format`); kept apart so the argument parser stays light. */
export const PLAN_FORMATS = ['text', 'markdown', 'json'] as const;
export type PlanFormat = (typeof PLAN_FORMATS)[number];
