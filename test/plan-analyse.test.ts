import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { analysePlan, type DagTask } from '../src/core/plan/analyse.js';

const t = (id: string, dependencies: string[] = []): DagTask => ({ id, dependencies });
const durations = (d: Record<string, number>) => (id: string) => d[id] ?? 0;

describe('plan analysis', () => {
  it('a chain: one task per level, the whole chain is critical', () => {
    const a = analysePlan([t('t3', ['t2']), t('t1'), t('t2', ['t1'])], durations({ t1: 1, t2: 2, t3: 3 }));
    expect(a.levels).toEqual([['t1'], ['t2'], ['t3']]);
    expect(a.criticalPath).toEqual(['t1', 't2', 't3']);
    expect(a.criticalPathDuration).toBe(6);
    expect(a.maxParallelWidth).toBe(1);
    expect(a.topologicalOrder).toEqual(['t1', 't2', 't3']);
  });

  it("a diamond's duration is its longest path, not the sum", () => {
    const tasks = [t('a'), t('b', ['a']), t('c', ['a']), t('d', ['b', 'c'])];
    const a = analysePlan(tasks, durations({ a: 1, b: 5, c: 2, d: 1 }));
    expect(a.criticalPath).toEqual(['a', 'b', 'd']);
    expect(a.criticalPathDuration).toBe(7);
    expect(a.levels).toEqual([['a'], ['b', 'c'], ['d']]);
    expect(a.maxParallelWidth).toBe(2);
    // The other branch becomes critical when it is the longer one.
    expect(analysePlan(tasks, durations({ a: 1, b: 2, c: 5, d: 1 })).criticalPath).toEqual(['a', 'c', 'd']);
  });

  it('a wide fan-out: width is the fan, the critical path goes through its slowest branch', () => {
    const leaves = Array.from({ length: 10 }, (_, i) => t(`l${i}`, ['root']));
    const a = analysePlan([t('root'), ...leaves, t('join', leaves.map((l) => l.id))], durations({ root: 1, l7: 4, join: 2 }));
    expect(a.maxParallelWidth).toBe(10);
    expect(a.levels.map((l) => l.length)).toEqual([1, 10, 1]);
    expect(a.criticalPath).toEqual(['root', 'l7', 'join']);
    expect(a.criticalPathDuration).toBe(7);
  });

  it('independent tasks: the longest single task is the critical path', () => {
    const a = analysePlan([t('x'), t('y'), t('z')], durations({ x: 1, y: 3, z: 2 }));
    expect(a.criticalPath).toEqual(['y']);
    expect(a.criticalPathDuration).toBe(3);
    expect(a.maxParallelWidth).toBe(3);
  });

  it('refuses a cycle (callers validate first)', () => {
    expect(() => analysePlan([t('a', ['b']), t('b', ['a'])], () => 1)).toThrow(/cycle/);
  });

  it('agrees with brute force on random DAGs', () => {
    const dag = fc
      .integer({ min: 1, max: 9 })
      .chain((n) =>
        fc.tuple(
          fc.array(fc.array(fc.nat(), { maxLength: 3 }), { minLength: n, maxLength: n }),
          fc.array(fc.integer({ min: 0, max: 20 }), { minLength: n, maxLength: n }),
        ),
      );
    fc.assert(
      fc.property(dag, ([picks, ds]) => {
        const tasks = picks.map((p, i) => t(`t${i}`, i === 0 ? [] : [...new Set(p.map((x) => `t${x % i}`))]));
        const dur = (id: string) => ds[Number(id.slice(1))]!;
        const a = analysePlan(tasks, dur);
        // Longest path by exhaustive recursion over every path.
        const byId = new Map(tasks.map((x) => [x.id, x]));
        const longest = (id: string): number => dur(id) + Math.max(0, ...byId.get(id)!.dependencies.map(longest));
        expect(a.criticalPathDuration).toBe(Math.max(...tasks.map((x) => longest(x.id))));
        // The reported path is a real dependency chain with that duration.
        a.criticalPath.slice(1).forEach((id, i) => expect(byId.get(id)!.dependencies).toContain(a.criticalPath[i]));
        expect(a.criticalPath.reduce((s, id) => s + dur(id), 0)).toBe(a.criticalPathDuration);
        // Levels: 0 without dependencies, else one more than the deepest dependency.
        for (const x of tasks) {
          const want = x.dependencies.length ? Math.max(...x.dependencies.map((d) => a.levelOf.get(d)!)) + 1 : 0;
          expect(a.levelOf.get(x.id)).toBe(want);
        }
        expect(a.levels.flat().sort()).toEqual(tasks.map((x) => x.id).sort());
      }),
      { numRuns: 300 },
    );
  });
});
