import { modelPlanSchema, type ModelPlan } from './plan-schema.js';
import type { PlanIssue } from './validate.js';

export type ParseResult = { ok: true; plan: ModelPlan } | { ok: false; issues: PlanIssue[] };

/**
 * Turns the model's answer into a plan. Models asked for JSON still wrap it in
 * a ```json fence or a sentence now and then, so the JSON object is taken from
 * the first fence if there is one, else from the first '{' to the last '}'.
 */
export function parsePlanText(text: string): ParseResult {
  const json = extractJson(text);
  if (json === undefined) {
    return { ok: false, issues: [{ code: 'INVALID_JSON', message: 'the answer contains no JSON object' }] };
  }
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    return { ok: false, issues: [{ code: 'INVALID_JSON', message: `the answer is not valid JSON: ${(err as Error).message}` }] };
  }
  return parsePlanValue(value);
}

/** Checks an already-decoded value (structured output, a cached plan) against the plan schema. */
export function parsePlanValue(value: unknown): ParseResult {
  const parsed = modelPlanSchema.safeParse(value);
  if (parsed.success) return { ok: true, plan: parsed.data };
  return {
    ok: false,
    issues: parsed.error.issues.map((i) => ({
      code: 'INVALID_SHAPE' as const,
      message: `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`,
    })),
  };
}

function extractJson(text: string): string | undefined {
  const fence = /```[a-zA-Z]*[ \t]*\r?\n([\s\S]*?)```/.exec(text);
  const body = (fence ? fence[1]! : text).trim();
  if (body.startsWith('{') || body.startsWith('[')) return body;
  const start = body.indexOf('{');
  const end = body.lastIndexOf('}');
  return start >= 0 && end > start ? body.slice(start, end + 1) : undefined;
}
