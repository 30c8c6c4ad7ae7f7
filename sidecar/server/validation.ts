import { invalidInput } from '../errors';

/**
 * Checks on request parameters. JSON-RPC delivers whatever a client sent, so each handler
 * checks its params before doing anything; a failure is InvalidInput and changes nothing.
 */
export function requireObject(params: unknown, method: string): Record<string, unknown> {
  if (params === undefined || params === null) return {};
  if (typeof params !== 'object' || Array.isArray(params)) throw invalidInput(`${method} expects an object of parameters.`);
  return params as Record<string, unknown>;
}

export function requireString(params: Record<string, unknown>, key: string): string {
  const value = params[key];
  if (typeof value !== 'string' || value.trim() === '') throw invalidInput(`"${key}" is required and must be a non-empty string.`);
  return value;
}

export function optionalString(params: Record<string, unknown>, key: string): string | undefined {
  const value = params[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalidInput(`"${key}" must be a string.`);
  return value;
}

export function optionalBoolean(params: Record<string, unknown>, key: string): boolean | undefined {
  const value = params[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw invalidInput(`"${key}" must be true or false.`);
  return value;
}

export function optionalPositiveInteger(params: Record<string, unknown>, key: string): number | undefined {
  const value = params[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) throw invalidInput(`"${key}" must be a positive whole number.`);
  return value;
}

export function optionalStringArray(params: Record<string, unknown>, key: string): string[] | undefined {
  const value = params[key];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) throw invalidInput(`"${key}" must be a list of strings.`);
  return value as string[];
}

export function requireStringArray(params: Record<string, unknown>, key: string): string[] {
  const value = optionalStringArray(params, key);
  if (!value || value.length === 0) throw invalidInput(`"${key}" is required and must be a non-empty list of strings.`);
  return value;
}
