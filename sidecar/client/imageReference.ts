/**
 * Docker's image reference grammar (distribution/reference), checked before a name reaches
 * the engine: a name such as `../../etc` would otherwise be put into an API path as is.
 *
 *   reference := name [ ":" tag ] [ "@" digest ]
 *   name      := [ domain "/" ] component ( "/" component )*
 *   domain    := host [ ":" port ]          (a host part holds a "." or ":", or is "localhost")
 *   component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
 *   tag       := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
 *   digest    := algorithm ":" hex          (sha256: 64 hex digits)
 */
const COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const DOMAIN = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?$|^\[[0-9a-fA-F:]+\](?::[0-9]+)?$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}$/;
const MAX_NAME_LENGTH = 255;

/** Why `reference` is not a Docker image reference, or undefined when it is one. */
export function imageReferenceProblem(reference: string): string | undefined {
  if (reference.trim() !== reference || reference === '') return 'an image reference has no spaces around it and is not empty';
  let rest = reference;
  const at = rest.indexOf('@');
  if (at >= 0) {
    if (!DIGEST.test(rest.slice(at + 1))) return 'a digest is an algorithm, ":" and hex digits (e.g. "@sha256:…")';
    rest = rest.slice(0, at);
  }
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    if (!TAG.test(rest.slice(colon + 1))) return 'a tag is letters, digits, "_", "." and "-" (up to 128, not starting with "." or "-")';
    rest = rest.slice(0, colon);
  }
  if (rest.length > MAX_NAME_LENGTH) return `an image name is at most ${MAX_NAME_LENGTH} characters`;
  const parts = rest.split('/');
  const first = parts[0];
  const hasDomain = parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || /[A-Z]/.test(first));
  if (hasDomain && !DOMAIN.test(first)) return `"${first}" is not a registry host[:port]`;
  for (const component of hasDomain ? parts.slice(1) : parts) {
    if (!COMPONENT.test(component)) {
      return `"${component}" is not a name component: lowercase letters and digits, separated by ".", "_", "__" or "-" (no "..", no leading or trailing separator)`;
    }
  }
  return undefined;
}
