/**
 * One shared copy per distinct value. A listing of thousands of identities
 * repeats the same tenant, subscription, resource group, issuer, audiences
 * and tag values in every item; interning them keeps one copy each instead of
 * one per identity. Scope an interner to one listing so it is dropped with it.
 */
export interface Interner {
  string(value: string): string;
  /** The same (frozen) list for lists with the same items. */
  list(values: readonly string[]): readonly string[];
  /** Values interned; keys of parsed objects are already shared by the JSON parser. */
  record(values: Readonly<Record<string, string>>): Readonly<Record<string, string>>;
}

export function createInterner(): Interner {
  const strings = new Map<string, string>();
  const lists = new Map<string, readonly string[]>();
  const string = (value: string): string => {
    const known = strings.get(value);
    if (known !== undefined) return known;
    strings.set(value, value);
    return value;
  };
  return {
    string,
    list: (values) => {
      const key = JSON.stringify(values);
      let known = lists.get(key);
      if (!known) {
        known = Object.freeze(values.map(string));
        lists.set(key, known);
      }
      return known;
    },
    record: (values) => {
      const out: Record<string, string> = {};
      for (const [key, value] of Object.entries(values)) out[key] = string(value);
      return out;
    },
  };
}
