import { z } from 'zod';
import { defineTool } from '../tool.js';
import { calculate, MAX_EXPRESSION_LENGTH } from './arithmetic.js';

/** Exact arithmetic for the model, which is bad at it. */
export function calculatorTool() {
  return defineTool({
    name: 'calculator',
    description:
      'Evaluates an arithmetic expression. Operators + - * / % ^ and parentheses; ' +
      'functions sqrt, abs, min, max, round, floor, ceil, log (base 10), ln, exp, sin, cos, tan (radians); constants pi, e.',
    input: z.strictObject({
      expression: z.string().min(1).max(MAX_EXPRESSION_LENGTH).describe('e.g. "(1200 * 0.15) + sqrt(16)"'),
    }),
    sideEffect: false,
    async run({ expression }) {
      return { expression, result: calculate(expression) };
    },
  });
}
