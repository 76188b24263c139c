import { z } from 'zod';
import { AppError } from '../../core/errors.js';
import { defineTool } from '../tool.js';

/** Leaves a message for another agent of the same plan. */
export function sendMessageTool() {
  return defineTool({
    name: 'send_message',
    description: 'Sends a short message to another agent working on the same plan.',
    input: z.strictObject({
      to_agent: z.string().trim().min(1).max(64).describe('name of the receiving agent'),
      text: z.string().trim().min(1).max(4000),
    }),
    sideEffect: false,
    async run({ to_agent, text }, ctx) {
      if (!ctx.sendMessage) throw new AppError('TOOL_UNAVAILABLE', 'unavailable', 'messaging is not available to this task');
      await ctx.sendMessage(to_agent, text);
      return { sent: true, to_agent };
    },
  });
}
