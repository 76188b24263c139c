import { AppError } from '../../core/errors.js';

/**
 * A small arithmetic language, parsed by recursive descent and evaluated over
 * an explicit AST: no `eval`, no `Function`, no property access.
 *
 *   expr    := term (('+' | '-') term)*
 *   term    := unary (('*' | '/' | '%') unary)*
 *   unary   := ('+' | '-') unary | power
 *   power   := primary ('^' unary)?          right-associative; -2^2 = -(2^2)
 *   primary := number | name | name '(' expr (',' expr)* ')' | '(' expr ')'
 */
export type Expr =
  | { type: 'num'; value: number }
  | { type: 'const'; name: string }
  | { type: 'neg'; arg: Expr }
  | { type: 'bin'; op: '+' | '-' | '*' | '/' | '%' | '^'; left: Expr; right: Expr }
  | { type: 'call'; name: string; args: Expr[] };

export const MAX_EXPRESSION_LENGTH = 1000;
const MAX_DEPTH = 100;

// Maps, not object literals: a name like `constructor` must not find Object.prototype.
const CONSTANTS = new Map<string, number>([
  ['pi', Math.PI],
  ['e', Math.E],
]);

const FUNCTIONS = new Map<string, { arity: [number, number]; fn: (...a: number[]) => number }>(Object.entries({
  sqrt: { arity: [1, 1], fn: Math.sqrt },
  abs: { arity: [1, 1], fn: Math.abs },
  min: { arity: [1, 100], fn: Math.min },
  max: { arity: [1, 100], fn: Math.max },
  round: { arity: [1, 1], fn: Math.round },
  floor: { arity: [1, 1], fn: Math.floor },
  ceil: { arity: [1, 1], fn: Math.ceil },
  log: { arity: [1, 1], fn: Math.log10 },
  ln: { arity: [1, 1], fn: Math.log },
  exp: { arity: [1, 1], fn: Math.exp },
  sin: { arity: [1, 1], fn: Math.sin },
  cos: { arity: [1, 1], fn: Math.cos },
  tan: { arity: [1, 1], fn: Math.tan },
}));

const calcError = (message: string, details?: unknown) =>
  new AppError('CALCULATOR_ERROR', 'invalid_request', message, { details });

type Token = { kind: 'num'; value: number; pos: number } | { kind: 'name'; value: string; pos: number } | { kind: 'op'; value: string; pos: number };

const NUMBER = /^(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const ch = src[i]!;
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    const rest = src.slice(i);
    const num = NUMBER.exec(rest);
    if (num) {
      tokens.push({ kind: 'num', value: Number(num[0]), pos: i });
      i += num[0].length;
      continue;
    }
    const name = NAME.exec(rest);
    if (name) {
      tokens.push({ kind: 'name', value: name[0].toLowerCase(), pos: i });
      i += name[0].length;
      continue;
    }
    if ('+-*/%^(),'.includes(ch)) {
      tokens.push({ kind: 'op', value: ch, pos: i });
      i++;
      continue;
    }
    throw calcError(`unexpected character '${ch}' at position ${i}`);
  }
  return tokens;
}

/** Parses an expression; throws CALCULATOR_ERROR on any syntax problem. */
export function parseExpression(src: string): Expr {
  if (src.length > MAX_EXPRESSION_LENGTH) throw calcError(`expression longer than ${MAX_EXPRESSION_LENGTH} characters`);
  const tokens = tokenize(src);
  let at = 0;
  let depth = 0;

  const peek = () => tokens[at];
  const isOp = (v: string) => {
    const t = tokens[at];
    return t?.kind === 'op' && t.value === v;
  };
  const expect = (v: string) => {
    if (!isOp(v)) throw calcError(`expected '${v}' ${where()}`);
    at++;
  };
  const where = () => {
    const t = tokens[at];
    return t ? `at position ${t.pos}` : 'at end of expression';
  };
  const nested = <T>(f: () => T): T => {
    if (++depth > MAX_DEPTH) throw calcError('expression nested too deeply');
    try {
      return f();
    } finally {
      depth--;
    }
  };

  const expr = (): Expr =>
    nested(() => {
      let left = term();
      while (isOp('+') || isOp('-')) {
        const op = tokens[at++]!.value as '+' | '-';
        left = { type: 'bin', op, left, right: term() };
      }
      return left;
    });

  const term = (): Expr => {
    let left = unary();
    while (isOp('*') || isOp('/') || isOp('%')) {
      const op = tokens[at++]!.value as '*' | '/' | '%';
      left = { type: 'bin', op, left, right: unary() };
    }
    return left;
  };

  const unary = (): Expr =>
    nested(() => {
      if (isOp('-')) {
        at++;
        return { type: 'neg', arg: unary() };
      }
      if (isOp('+')) {
        at++;
        return unary();
      }
      return power();
    });

  const power = (): Expr => {
    const base = primary();
    if (!isOp('^')) return base;
    at++;
    return { type: 'bin', op: '^', left: base, right: unary() };
  };

  const primary = (): Expr => {
    const t = peek();
    if (!t) throw calcError('unexpected end of expression');
    if (t.kind === 'num') {
      at++;
      return { type: 'num', value: t.value };
    }
    if (t.kind === 'name') {
      at++;
      if (isOp('(')) {
        const fn = FUNCTIONS.get(t.value);
        if (!fn) throw calcError(`unknown function '${t.value}'`);
        at++;
        const args = [expr()];
        while (isOp(',')) {
          at++;
          args.push(expr());
        }
        expect(')');
        const [lo, hi] = fn.arity;
        if (args.length < lo || args.length > hi) {
          throw calcError(`${t.value} takes ${lo === hi ? lo : `${lo} to ${hi}`} argument(s), got ${args.length}`);
        }
        return { type: 'call', name: t.value, args };
      }
      if (!CONSTANTS.has(t.value)) throw calcError(`unknown identifier '${t.value}'`);
      return { type: 'const', name: t.value };
    }
    if (t.value === '(') {
      at++;
      const inner = expr();
      expect(')');
      return inner;
    }
    throw calcError(`unexpected '${t.value}' at position ${t.pos}`);
  };

  if (tokens.length === 0) throw calcError('empty expression');
  const tree = expr();
  if (at < tokens.length) throw calcError(`unexpected '${String(tokens[at]!.value)}' ${where()}`);
  return tree;
}

/**
 * Evaluates a parsed expression. Every intermediate value must be a finite
 * real number: division by zero, overflow and domain errors (sqrt(-1), ln(0))
 * are errors rather than Infinity or NaN leaking into an agent's answer.
 */
export function evaluateExpression(node: Expr): number {
  const finite = (v: number, what: string) => {
    if (!Number.isFinite(v)) throw calcError(Number.isNaN(v) ? `${what} is not a real number` : `${what} overflows`);
    return v;
  };
  switch (node.type) {
    case 'num':
      return finite(node.value, 'number');
    case 'const':
      return CONSTANTS.get(node.name)!;
    case 'neg':
      return -evaluateExpression(node.arg);
    case 'call': {
      const args = node.args.map(evaluateExpression);
      return finite(FUNCTIONS.get(node.name)!.fn(...args), `${node.name}(…)`);
    }
    case 'bin': {
      const a = evaluateExpression(node.left);
      const b = evaluateExpression(node.right);
      switch (node.op) {
        case '+':
          return finite(a + b, 'sum');
        case '-':
          return finite(a - b, 'difference');
        case '*':
          return finite(a * b, 'product');
        case '/':
          if (b === 0) throw calcError('division by zero');
          return finite(a / b, 'quotient');
        case '%':
          if (b === 0) throw calcError('modulo by zero');
          return finite(a % b, 'remainder');
        case '^':
          return finite(a ** b, 'power');
      }
    }
  }
}

/** Parses and evaluates `src`. */
export function calculate(src: string): number {
  return evaluateExpression(parseExpression(src));
}
