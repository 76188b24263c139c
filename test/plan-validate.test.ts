import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { validatePlan, type PlanIssue } from '../src/core/plan/validate.js';
import { parsePlanText } from '../src/core/plan/parse.js';
import type { ModelPlan, PlanTaskSpec } from '../src/core/plan/plan-schema.js';

const AGENTS = ['researcher', 'writer', 'coder'];
const opts = { activeAgents: AGENTS, maxTasks: 50 };
const task = (id: string, dependencies: string[] = [], agent = 'writer'): PlanTaskSpec => ({
  id, description: `do ${id}`, agent, dependencies,
});
const codes = (issues: PlanIssue[]) => issues.map((i) => i.code);

/**
 * A random DAG: unique ids, each task depending only on tasks created before
 * it, then shuffled so plan order is not a topological order.
 */
const dagArb = fc
  .uniqueArray(fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/), { minLength: 1, maxLength: 30 })
  .chain((ids) =>
    fc.tuple(
      fc.constant(ids),
      fc.array(fc.array(fc.nat(), { maxLength: 4 }), { minLength: ids.length, maxLength: ids.length }),
      fc.array(fc.constantFrom(...AGENTS), { minLength: ids.length, maxLength: ids.length }),
      fc.array(fc.nat(), { minLength: ids.length, maxLength: ids.length }),
    ),
  )
  .map(([ids, depPicks, agents, order]): PlanTaskSpec[] => {
    const tasks = ids.map((id, i) => ({
      id,
      description: `task ${id}`,
      agent: agents[i]!,
      dependencies: i === 0 ? [] : [...new Set(depPicks[i]!.map((p) => ids[p % i]!))],
    }));
    return tasks
      .map((t, i) => ({ t, k: order[i]! }))
      .sort((a, b) => a.k - b.k)
      .map((x) => x.t);
  });

const clone = (tasks: PlanTaskSpec[]) => tasks.map((t) => ({ ...t, dependencies: [...t.dependencies] }));

/** Every step x → y of the cycle must be a real edge: y depends on x. */
function isRealCycle(tasks: PlanTaskSpec[], cycle: string[]): boolean {
  if (cycle.length < 3 || cycle[0] !== cycle.at(-1)) return false;
  const byId = new Map(tasks.map((t) => [t.id, t]));
  return cycle.slice(1).every((y, i) => byId.get(y)?.dependencies.includes(cycle[i]!) ?? false);
}

describe('plan validation (property)', () => {
  it('accepts every random DAG with active agents', () => {
    fc.assert(
      fc.property(dagArb, (tasks) => {
        expect(validatePlan({ tasks }, opts)).toEqual([]);
      }),
      { numRuns: 400 },
    );
  });

  it('rejects an injected cycle and names a real cycle', () => {
    fc.assert(
      fc.property(dagArb.filter((ts) => ts.some((t) => t.dependencies.length > 0)), fc.nat(), fc.nat(), (tasks, a, b) => {
        const mutated = clone(tasks);
        const byId = new Map(mutated.map((t) => [t.id, t]));
        // Walk down a random dependency path from a task with dependencies, then close it.
        const withDeps = mutated.filter((t) => t.dependencies.length > 0);
        const top = withDeps[a % withDeps.length]!;
        let bottom = top;
        let step = b;
        while (bottom.dependencies.length > 0) {
          bottom = byId.get(bottom.dependencies[step % bottom.dependencies.length]!)!;
          step = Math.floor(step / 2) + 1;
          if (step % 3 === 0) break;
        }
        bottom.dependencies.push(top.id);
        const issues = validatePlan({ tasks: mutated }, opts);
        const cycles = issues.filter((i) => i.code === 'CYCLE');
        expect(cycles.length).toBeGreaterThan(0);
        for (const c of cycles) {
          expect(isRealCycle(mutated, c.cycle!)).toBe(true);
          expect(c.message).toContain(c.cycle!.join(' → '));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('rejects a dangling dependency, naming the task and the missing id', () => {
    fc.assert(
      fc.property(dagArb, fc.nat(), (tasks, k) => {
        const mutated = clone(tasks);
        const victim = mutated[k % mutated.length]!;
        const missing = 'missing.id'; // '.' can never be a task id, so it cannot exist
        victim.dependencies.push(missing);
        const issues = validatePlan({ tasks: mutated }, opts);
        expect(codes(issues)).toEqual(['UNKNOWN_DEPENDENCY']);
        expect(issues[0]!.taskId).toBe(victim.id);
        expect(issues[0]!.message).toContain(missing);
      }),
      { numRuns: 300 },
    );
  });

  it('rejects a duplicate id', () => {
    fc.assert(
      fc.property(dagArb.filter((ts) => ts.length >= 2), fc.nat(), (tasks, k) => {
        const mutated = clone(tasks);
        const i = k % mutated.length;
        const j = (i + 1) % mutated.length;
        mutated[j] = { ...mutated[j]!, id: mutated[i]!.id };
        const issues = validatePlan({ tasks: mutated }, opts);
        expect(issues.filter((x) => x.code === 'DUPLICATE_TASK_ID').map((x) => x.taskId)).toEqual([mutated[i]!.id]);
      }),
      { numRuns: 300 },
    );
  });

  it('rejects a self-dependency as such, not as a cycle', () => {
    fc.assert(
      fc.property(dagArb, fc.nat(), (tasks, k) => {
        const mutated = clone(tasks);
        const victim = mutated[k % mutated.length]!;
        victim.dependencies.push(victim.id);
        const issues = validatePlan({ tasks: mutated }, opts);
        expect(codes(issues)).toEqual(['SELF_DEPENDENCY']);
        expect(issues[0]!.taskId).toBe(victim.id);
      }),
      { numRuns: 300 },
    );
  });

  it('rejects a task given to an agent that is not active', () => {
    fc.assert(
      fc.property(dagArb, fc.nat(), (tasks, k) => {
        const mutated = clone(tasks);
        const victim = mutated[k % mutated.length]!;
        victim.agent = 'ghost';
        const issues = validatePlan({ tasks: mutated }, opts);
        expect(codes(issues)).toEqual(['UNKNOWN_AGENT']);
        expect(issues[0]!.taskId).toBe(victim.id);
      }),
      { numRuns: 300 },
    );
  });
});

describe('plan validation (examples)', () => {
  it('names the cycle in execution order', () => {
    const plan: ModelPlan = { tasks: [task('t1', ['t3']), task('t2', ['t1']), task('t3', ['t1'])] };
    const issues = validatePlan(plan, opts);
    expect(issues).toEqual([
      { code: 'CYCLE', taskId: 't1', cycle: ['t1', 't3', 't1'], message: 'dependency cycle: t1 → t3 → t1' },
    ]);
  });

  it('reports each independent cycle once', () => {
    const plan: ModelPlan = {
      tasks: [task('a', ['c']), task('b', ['a']), task('c', ['b']), task('x', ['y']), task('y', ['x']), task('z')],
    };
    const cycles = validatePlan(plan, opts).filter((i) => i.code === 'CYCLE').map((i) => i.cycle);
    expect(cycles).toEqual([['a', 'b', 'c', 'a'], ['x', 'y', 'x']]);
  });

  it('returns every problem at once, not just the first', () => {
    const plan: ModelPlan = {
      tasks: [task('t1', ['t1']), task('t2', ['nope'], 'ghost'), task('t2'), task('t3', ['t4']), task('t4', ['t3'])],
    };
    expect(codes(validatePlan(plan, opts)).sort()).toEqual(
      ['CYCLE', 'DUPLICATE_TASK_ID', 'SELF_DEPENDENCY', 'UNKNOWN_AGENT', 'UNKNOWN_DEPENDENCY'].sort(),
    );
  });

  it('rejects an empty plan', () => {
    expect(codes(validatePlan({ tasks: [] }, opts))).toEqual(['EMPTY_PLAN']);
  });

  it('rejects more tasks than MAX_PLAN_TASKS', () => {
    const tasks = Array.from({ length: 4 }, (_, i) => task(`t${i}`));
    expect(codes(validatePlan({ tasks }, { ...opts, maxTasks: 3 }))).toEqual(['TOO_MANY_TASKS']);
    expect(validatePlan({ tasks }, { ...opts, maxTasks: 4 })).toEqual([]);
  });

  it('says when an agent exists but is disabled', () => {
    const [issue] = validatePlan({ tasks: [task('t1', [], 'critic')] }, { ...opts, disabledAgents: ['critic'] });
    expect(issue!.message).toContain('"critic", which is disabled');
  });

  it('finds a cycle in a 500-task chain without overflowing the stack', () => {
    const tasks = Array.from({ length: 500 }, (_, i) => task(`t${i}`, i === 0 ? ['t499'] : [`t${i - 1}`]));
    const [issue] = validatePlan({ tasks }, { ...opts, maxTasks: 500 });
    expect(issue!.code).toBe('CYCLE');
    expect(issue!.cycle).toHaveLength(501);
  });
});

describe('plan parsing', () => {
  const valid = '{"tasks":[{"id":"t1","description":"d","agent":"writer","dependencies":[]}]}';

  it('accepts bare JSON, a ```json fence and JSON inside prose', () => {
    for (const text of [valid, '```json\n' + valid + '\n```', 'Here is the plan:\n' + valid + '\nThanks']) {
      const r = parsePlanText(text);
      expect(r.ok && r.plan.tasks[0]!.id).toBe('t1');
    }
  });

  it('keeps the scripted sim options and drops repeated dependencies', () => {
    const r = parsePlanText(
      '{"tasks":[{"id":"t1","description":"d","agent":"w","dependencies":["a","a"],"sim":{"latency_ms":5,"output_tokens":7,"fail":"transient"}}]}',
    );
    expect(r.ok && r.plan.tasks[0]).toEqual({
      id: 't1', description: 'd', agent: 'w', dependencies: ['a'], sim: { latency_ms: 5, output_tokens: 7, fail: 'transient' },
    });
  });

  it('rejects text without JSON, broken JSON and a wrong shape with typed issues', () => {
    expect(parsePlanText('no plan here')).toMatchObject({ ok: false, issues: [{ code: 'INVALID_JSON' }] });
    expect(parsePlanText('{"tasks": [}')).toMatchObject({ ok: false, issues: [{ code: 'INVALID_JSON' }] });
    const shape = parsePlanText('{"tasks":[{"id":"t:1","description":"","agent":"w"}]}');
    expect(shape.ok).toBe(false);
    if (!shape.ok) {
      expect(shape.issues.every((i) => i.code === 'INVALID_SHAPE')).toBe(true);
      expect(shape.issues.map((i) => i.message).join('\n')).toMatch(/tasks\.0\.id/);
    }
  });

  it('refuses ids that could not be part of a queue job id', () => {
    for (const id of ['a.b', 'a:b', '', 'x'.repeat(65), 'a b']) {
      const r = parsePlanText(JSON.stringify({ tasks: [{ id, description: 'd', agent: 'w', dependencies: [] }] }));
      expect(r.ok, id).toBe(false);
    }
  });
});
