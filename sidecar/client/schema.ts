/**
 * Tiny schemas for request parameters, declared beside each request in the protocol and
 * checked by the sidecar's registrar before a handler runs: JSON-RPC delivers whatever a
 * client sent. Hand-written rather than a validation library: a dozen lines per shape, no
 * dependency in the extension's bundle, and messages written for people ("\"cols\" must be
 * a positive whole number."), which the UI shows as they are.
 */
export interface Schema<T> {
  /** Returns the value typed, or throws a SchemaError naming `key`. */
  check(value: unknown, key: string): T;
  /** Set on schemas that accept a missing value. */
  readonly optional?: true;
}

export type Infer<S> = S extends Schema<infer T> ? T : never;

export class SchemaError extends Error {}

const fail = (message: string): never => {
  throw new SchemaError(message);
};

export function string(): Schema<string> {
  return {
    check: (value, key) => (typeof value === 'string' && value.trim() !== '' ? value : fail(`"${key}" is required and must be a non-empty string.`)),
  };
}

/** Any string, the empty one included (free text). */
export function text(): Schema<string> {
  return { check: (value, key) => (typeof value === 'string' ? value : fail(`"${key}" must be a string.`)) };
}

export function boolean(): Schema<boolean> {
  return { check: (value, key) => (typeof value === 'boolean' ? value : fail(`"${key}" must be true or false.`)) };
}

export function positiveInteger(maximum = Number.MAX_SAFE_INTEGER): Schema<number> {
  return {
    check: (value, key) =>
      typeof value === 'number' && Number.isInteger(value) && value > 0 && value <= maximum
        ? value
        : fail(`"${key}" must be a positive whole number${maximum < Number.MAX_SAFE_INTEGER ? ` of at most ${maximum}` : ''}.`),
  };
}

export function wholeNumber(): Schema<number> {
  return {
    check: (value, key) => (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : fail(`"${key}" must be a whole number, 0 or more.`)),
  };
}

export function oneOf<const T extends string>(choices: readonly T[]): Schema<T> {
  return {
    check: (value, key) =>
      choices.includes(value as T) ? (value as T) : fail(`"${key}" must be one of ${choices.map((choice) => JSON.stringify(choice)).join(', ')}.`),
  };
}

export function stringList(options: { nonEmpty?: boolean } = {}): Schema<string[]> {
  return {
    check: (value, key) => {
      const valid = Array.isArray(value) && value.every((item) => typeof item === 'string') && (!options.nonEmpty || value.length > 0);
      if (valid) return value as string[];
      return fail(options.nonEmpty ? `"${key}" is required and must be a non-empty list of strings.` : `"${key}" must be a list of strings.`);
    },
  };
}

/** A JSON object whose keys and values the handler checks itself (settings). */
export function dictionary(): Schema<Record<string, unknown>> {
  return {
    check: (value, key) => (typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : fail(`"${key}" must be an object.`)),
  };
}

/** Missing (undefined or null) is allowed and becomes undefined. */
export function optional<T>(schema: Schema<T>): Schema<T | undefined> & { optional: true } {
  return { optional: true, check: (value, key) => (value === undefined || value === null ? undefined : schema.check(value, key)) };
}

type Fields = Record<string, Schema<unknown>>;
type OptionalKeys<F extends Fields> = { [K in keyof F]: F[K] extends { optional: true } ? K : never }[keyof F];
export type ObjectOf<F extends Fields> = { [K in Exclude<keyof F, OptionalKeys<F>>]: Infer<F[K]> } & { [K in OptionalKeys<F>]?: Infer<F[K]> };

/** The parameters object: each field checked; unknown fields are dropped. Missing params count as `{}`. */
export function params<F extends Fields>(fields: F): Schema<ObjectOf<F>> {
  return {
    check: (value, method) => {
      if (value === undefined || value === null) value = {};
      if (typeof value !== 'object' || Array.isArray(value)) fail(`${method} expects an object of parameters.`);
      const input = value as Record<string, unknown>;
      const checked: Record<string, unknown> = {};
      for (const [key, schema] of Object.entries(fields)) {
        const result = schema.check(input[key], key);
        if (result !== undefined) checked[key] = result;
      }
      return checked as ObjectOf<F>;
    },
  };
}

export const noParams = params({});

/** A work-done progress token (LSP's `workDoneToken`): a string or an integer. */
export function progressToken(): Schema<string | number> {
  return {
    check: (value, key) => (typeof value === 'string' || (typeof value === 'number' && Number.isSafeInteger(value)) ? value : fail(`"${key}" must be a string or an integer.`)),
  };
}
