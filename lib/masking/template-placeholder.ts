/**
 * Placeholders a template rule may use. In a module of its own so that the transformers (and
 * so each masking thread, masking-worker.ts) do not load the rules' validation (zod: ~0.25 s of
 * CPU per thread at start).
 */
export const TEMPLATE_PLACEHOLDER = /\{(hash|digits|first|last)(?::(\d+))?\}/g;
