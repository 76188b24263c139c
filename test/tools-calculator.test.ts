import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AppError } from '../src/core/errors.js';
import { calculate, MAX_EXPRESSION_LENGTH } from '../src/tools/builtin/arithmetic.js';

describe('calculator', () => {
  it.each([
    ['1 + 2', 3],
    ['2 + 3 * 4', 14],
    ['(2 + 3) * 4', 20],
    ['10 - 4 - 3', 3],
    ['100 / 10 / 5', 2],
    ['7 % 3', 1],
    ['-7 % 3', -1],
    ['2 ^ 10', 1024],
    ['2 ^ 3 ^ 2', 512],
    ['-2 ^ 2', -4],
    ['(-2) ^ 2', 4],
    ['2 ^ -1', 0.5],
    ['--3', 3],
    ['+4', 4],
    ['3 * -2', -6],
    ['1.5 + .5', 2],
    ['1e3 + 2.5E-1', 1000.25],
    ['6.02e+2', 602],
    ['sqrt(16) + abs(-3)', 7],
    ['min(4, 2, 8) + max(1, 9)', 11],
    ['round(2.5) + floor(2.7) + ceil(2.1)', 8],
    ['log(1000)', 3],
    ['ln(e)', 1],
    ['exp(0)', 1],
    ['sin(0) + cos(0) + tan(0)', 1],
    ['cos(pi)', -1],
    ['PI', Math.PI],
    ['  ( ( 1 ) )  ', 1],
    ['1200 * 0.15 + sqrt(16)', 184],
  ])('%s = %d', (expr, expected) => {
    expect(calculate(expr)).toBeCloseTo(expected, 12);
  });

  it.each([
    ['1 / 0', /division by zero/],
    ['5 % 0', /modulo by zero/],
    ['1 / (2 - 2)', /division by zero/],
    ['10 ^ 400', /overflows/],
    ['sqrt(-1)', /not a real number/],
    ['ln(0)', /overflows/],
    ['foo + 1', /unknown identifier 'foo'/],
    ['process(1)', /unknown function 'process'/],
    ['constructor', /unknown identifier 'constructor'/],
    ['constructor(1)', /unknown function 'constructor'/],
    ['__proto__ + 1', /unknown identifier '__proto__'/],
    ['1 + 2 )', /unexpected '\)'/],
    ['1 2', /unexpected '2'/],
    ['2 pi', /unexpected 'pi'/],
    ['(1 + 2', /expected '\)'/],
    ['1 +', /unexpected end/],
    ['', /empty expression/],
    ['1; 2', /unexpected character ';'/],
    ['alert`1`', /unexpected character/],
    ['sqrt(1, 2)', /sqrt takes 1 argument/],
    ['max()', /unexpected '\)'/],
    ['1.2.3', /unexpected/],
    ['2e', /unexpected 'e'/],
  ])('%s is an error', (expr, message) => {
    const err = (() => {
      try {
        calculate(expr);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('CALCULATOR_ERROR');
    expect((err as AppError).message).toMatch(message);
  });

  it('refuses an expression longer than the limit', () => {
    expect(() => calculate('1+'.repeat(MAX_EXPRESSION_LENGTH) + '1')).toThrow(/longer than/);
  });

  it('refuses nesting deep enough to exhaust the stack', () => {
    expect(() => calculate('('.repeat(400) + '1' + ')'.repeat(400))).toThrow(/nested too deeply/);
    expect(() => calculate('-'.repeat(500) + '1')).toThrow(/nested too deeply/);
  });

  // The reference evaluator works on the test's own AST; the calculator only sees its rendering.
  type Node = { k: 'lit'; v: number } | { k: 'neg'; a: Node } | { k: 'bin'; op: '+' | '-' | '*'; l: Node; r: Node };

  const reference = (n: Node): number => {
    switch (n.k) {
      case 'lit':
        return n.v;
      case 'neg':
        return -reference(n.a);
      case 'bin': {
        const l = reference(n.l);
        const r = reference(n.r);
        return n.op === '+' ? l + r : n.op === '-' ? l - r : l * r;
      }
    }
  };

  const precedence = (n: Node): number => (n.k === 'bin' ? (n.op === '*' ? 2 : 1) : n.k === 'neg' || n.v < 0 ? 3 : 4);

  /** Minimal parentheses, so precedence and associativity are what is tested; `extra` adds redundant ones. */
  const render = (n: Node, extra: boolean): string => {
    const wrap = (child: Node, min: number) => {
      const s = render(child, extra);
      return precedence(child) < min || (extra && child.k === 'bin') ? `(${s})` : s;
    };
    switch (n.k) {
      case 'lit':
        return String(n.v);
      case 'neg':
        return `-${wrap(n.a, 3)}`;
      case 'bin': {
        const p = precedence(n);
        return `${wrap(n.l, p)} ${n.op} ${wrap(n.r, p + 1)}`;
      }
    }
  };

  const { node } = fc.letrec<{ node: Node }>((tie) => ({
    node: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.record({ k: fc.constant('lit' as const), v: fc.integer({ min: -1000, max: 1000 }) }),
      fc.record({ k: fc.constant('neg' as const), a: tie('node') }),
      fc.record({ k: fc.constant('bin' as const), op: fc.constantFrom('+' as const, '-' as const, '*' as const), l: tie('node'), r: tie('node') }),
    ),
  }));

  it('agrees with a reference evaluator on random integer expressions', () => {
    fc.assert(
      fc.property(node, fc.boolean(), (tree, extra) => {
        const source = render(tree, extra);
        fc.pre(source.length <= MAX_EXPRESSION_LENGTH);
        expect(calculate(source)).toBe(reference(tree));
      }),
      { numRuns: 500 },
    );
  });
});
