import type { ApiError } from '../api.js';

/** The API's 400/409 `details`, by field path (`config.model`, `name`…). */
export function problemsByField(err: ApiError | null): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const p of err?.fields ?? []) map.set(p.field, [...(map.get(p.field) ?? []), p.message]);
  return map;
}

/** The messages of one field, shown next to it. */
export function FieldError({ problems, field }: { problems: Map<string, string[]>; field: string }) {
  const messages = problems.get(field);
  if (!messages) return null;
  return (
    <span class="field-error" data-field-error={field}>
      {messages.join('; ')}
    </span>
  );
}

/** Details that name no field of the form: shown above it, so no API message is ever hidden. */
export function OtherErrors({ err, shown }: { err: ApiError | null; shown: readonly string[] }) {
  if (!err) return null;
  const rest = err.fields.filter((p) => !shown.includes(p.field));
  return (
    <div class="form-error" data-testid="form-error">
      {err.message}
      {rest.length > 0 && (
        <ul>
          {rest.map((p, i) => (
            <li key={i}>
              <code>{p.field}</code>: {p.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
