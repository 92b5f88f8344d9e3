/**
 * FNV-1a, 32 bits, over the UTF-16 code units of `text`: a fingerprint to
 * tell whether a long text changed without keeping it (equal texts, equal
 * fingerprints; a change goes unseen with a chance of one in four billion).
 */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}
