/**
 * App settings read the way the Functions host reads them. The host is .NET: its configuration keys are
 * case-insensitive (`SourceStorage__clientID` is `SourceStorage__clientId`), `__` separates a section from its
 * children, and a binding connection `N` is looked up as `AzureWebJobsN` first, then as `N`, each under
 * `ConnectionStrings:` first (WebJobs' GetWebJobsConnectionStringSection). Blank values count as unset.
 */

type Env = Readonly<Record<string, string | undefined>>;

export interface Setting {
  /** The name as written in the environment, for messages. */
  readonly key: string;
  readonly value: string;
}

export interface SettingSection {
  /** The section's name as written in the environment (the connection's own value, or the prefix of its children). */
  readonly path: string;
  readonly value?: Setting;
  /** The children by lower-case name (`clientid` for `…__clientId`). */
  readonly children: ReadonlyMap<string, Setting>;
  /** Settings the host would treat as one because their names differ only in case. */
  readonly ambiguous: readonly string[];
}

const SEPARATOR = "__";

function entries(env: Env): Setting[] {
  return Object.entries(env).flatMap(([key, value]) => (value === undefined || value.trim() === "" ? [] : [{ key, value: value.trim() }]));
}

/** The section `path` of the environment (case-insensitive), or undefined when nothing is set under it. */
export function settingSection(env: Env, path: string): SettingSection | undefined {
  const lower = path.toLowerCase();
  const prefix = `${lower}${SEPARATOR}`;
  const values: Setting[] = [];
  const children = new Map<string, Setting[]>();
  for (const setting of entries(env)) {
    const key = setting.key.toLowerCase();
    if (key === lower) values.push(setting);
    else if (key.startsWith(prefix)) {
      const child = key.slice(prefix.length);
      children.set(child, [...(children.get(child) ?? []), setting]);
    }
  }
  if (values.length === 0 && children.size === 0) return undefined;
  const ambiguous = [values, ...children.values()].filter((same) => same.length > 1).map((same) => same.map((s) => s.key).sort().join(" and "));
  const first = values[0];
  return {
    path: first?.key ?? children.values().next().value?.[0]?.key.slice(0, path.length) ?? path,
    ...(first !== undefined && { value: first }),
    children: new Map([...children].map(([name, same]) => [name, same[0] as Setting])),
    ambiguous,
  };
}

/** The section the host binds connection `name` to: `AzureWebJobs<name>` before `<name>`, `ConnectionStrings` first. */
export function connectionSection(env: Env, name: string): SettingSection | undefined {
  for (const candidate of [`AzureWebJobs${name}`, name]) {
    const section = settingSection(env, `ConnectionStrings${SEPARATOR}${candidate}`) ?? settingSection(env, candidate);
    if (section !== undefined) return section;
  }
  return undefined;
}
