import { describe, expect, it } from 'vitest';
import { countTokens as o200k } from 'gpt-tokenizer/encoding/o200k_base';
import { countTokens as cl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import { ANTHROPIC_TOKEN_FACTOR, countMessagesTokens, countTokens } from '../src/llm/tokens.js';

const text = 'Research the top three vector databases and compare their pricing models. 🚀 naïve café';

describe('token counting', () => {
  it('uses o200k for current OpenAI models', () => {
    expect(countTokens(text, 'openai', 'gpt-4o-mini')).toBe(o200k(text));
    expect(countTokens(text, 'openai', 'gpt-5')).toBe(o200k(text));
  });

  it('uses cl100k for gpt-4 and gpt-3.5', () => {
    expect(countTokens(text, 'openai', 'gpt-4')).toBe(cl100k(text));
    expect(countTokens(text, 'openai', 'gpt-3.5-turbo')).toBe(cl100k(text));
    expect(cl100k(text)).not.toBe(o200k(text));
  });

  it('approximates Claude models as o200k × 1.05, whichever provider serves them', () => {
    const expected = Math.ceil(o200k(text) * ANTHROPIC_TOKEN_FACTOR);
    expect(countTokens(text, 'anthropic', 'claude-3-5-haiku-latest')).toBe(expected);
    expect(countTokens(text, 'simulated', 'claude-sonnet-4-5')).toBe(expected);
  });

  it('counts nothing for empty text', () => {
    expect(countTokens('', 'openai', 'gpt-4o')).toBe(0);
  });

  it('adds per-message framing and tool-call arguments to the content', () => {
    const messages = [
      { role: 'system' as const, content: 'Be brief.' },
      { role: 'user' as const, content: text },
      { role: 'assistant' as const, content: '', toolCalls: [{ id: 'c1', name: 'calculator', arguments: { expression: '2+2' } }] },
    ];
    const content = o200k('Be brief.') + o200k(text) + o200k('calculator{"expression":"2+2"}');
    expect(countMessagesTokens(messages, 'openai', 'gpt-4o')).toBe(content + 3 * 4 + 3);
  });
});
