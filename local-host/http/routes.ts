/**
 * HTTP trigger route templates as the Functions host reads them: literal segments (case-insensitive), `{name}`,
 * optional `{name?}`, catch-all `{*rest}`, and constraints (`{id:int}`) which are accepted and not enforced.
 */
export interface CompiledRoute {
  readonly template: string;
  match(path: string): Record<string, string> | undefined;
}

export function compileRoute(template: string): CompiledRoute {
  const segments = template.replace(/^\/+|\/+$/g, "").split("/").filter((s) => s !== "");
  let pattern = "";
  const names: string[] = [];
  for (const segment of segments) {
    const param = /^\{(\*)?([A-Za-z0-9_]+)(?::[^}?]*)?(\?)?\}$/.exec(segment);
    if (param === null) {
      pattern += `/${segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`;
      continue;
    }
    const [, star, name = "", optional] = param;
    names.push(name);
    if (star !== undefined) pattern += "(?:/(.*))?";
    else if (optional !== undefined) pattern += "(?:/([^/]+))?";
    else pattern += "/([^/]+)";
  }
  const re = new RegExp(`^${pattern}/?$`, "i");
  return {
    template,
    match(path: string) {
      const m = re.exec(path);
      if (m === null) return undefined;
      const params: Record<string, string> = {};
      names.forEach((name, i) => {
        const value = m[i + 1];
        if (value !== undefined) params[name] = decodeURIComponent(value);
      });
      return params;
    },
  };
}
