/**
 * Storage connections, resolved the way the Functions host resolves binding connections, so one set of app settings
 * serves both the bindings and our SDK clients (src/config/setting-sections.ts for how names are looked up):
 *   - `<Name>` holds a connection string, or
 *   - `<Name>__blobServiceUri` / `<Name>__queueServiceUri` (or `<Name>__accountName`, or the legacy
 *     `<Name>__serviceUri` for blobs) with the identity settings of src/config/identity-credential.ts.
 *
 * Problems never echo a value: a connection string carries a key.
 */
import { z } from "zod";

import { type IdentityCredential, resolveIdentityCredential } from "./identity-credential";
import { connectionSection, type SettingSection } from "./setting-sections";

export type StorageConnection =
  | {
      readonly name: string;
      readonly kind: "connectionString";
      /** Secret: never log it. */
      readonly connectionString: string;
      readonly accountName: string;
      /** What authorises it: an account key (it can sign SAS URLs) or only a SAS (it cannot). */
      readonly auth: "accountKey" | "sas";
    }
  | {
      readonly name: string;
      readonly kind: "identity";
      readonly blobServiceUri?: string;
      readonly queueServiceUri?: string;
      readonly credential: IdentityCredential;
      readonly accountName: string;
    };

export interface ConnectionNeeds {
  readonly blob: boolean;
  readonly queue: boolean;
}

export type Resolved<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problems: string[] };

type Env = Readonly<Record<string, string | undefined>>;

const DEV_ACCOUNT = "devstoreaccount1";
const httpUrl = z.url({ protocol: /^https?$/, error: "must be an http(s) URL" });

/** Splits `Key=Value;Key=Value` (values may contain `=`, as base64 keys do); keys are case-insensitive. */
export function parseConnectionString(text: string): Record<string, string> {
  const parts: Record<string, string> = {};
  for (const segment of text.split(";")) {
    const eq = segment.indexOf("=");
    if (eq > 0) parts[segment.slice(0, eq).trim().toLowerCase()] = segment.slice(eq + 1).trim();
  }
  return parts;
}

/** Connection string keys as Azure spells them, for messages (we match them case-insensitively). */
const CONNECTION_STRING_KEYS: Readonly<Record<string, string>> = {
  accountname: "AccountName",
  accountkey: "AccountKey",
  sharedaccesssignature: "SharedAccessSignature",
  blobendpoint: "BlobEndpoint",
  queueendpoint: "QueueEndpoint",
};

const connectionStringParts = z
  .object({
    usedevelopmentstorage: z.literal("true").optional(),
    accountname: z.string().regex(/^[a-z0-9]{3,24}$/, "AccountName must be 3–24 lowercase letters and digits").optional(),
    accountkey: z.base64("AccountKey must be base64").optional(),
    sharedaccesssignature: z.string().min(1).optional(),
    blobendpoint: httpUrl.optional(),
    queueendpoint: httpUrl.optional(),
  })
  .refine((p) => p.usedevelopmentstorage !== undefined || p.accountkey !== undefined || p.sharedaccesssignature !== undefined, {
    error: "the connection string has neither AccountKey nor SharedAccessSignature",
  })
  .refine((p) => p.accountkey === undefined || p.accountname !== undefined, { error: "AccountKey needs an AccountName" });

const serviceSettings = {
  accountname: z.string().regex(/^[a-z0-9]{3,24}$/, "must be 3–24 lowercase letters and digits"),
  blobserviceuri: httpUrl,
  serviceuri: httpUrl,
  queueserviceuri: httpUrl,
} as const;

/** Account name from a service URL: the first host label in Azure, the first path segment for path-style (Azurite). */
export function accountFromServiceUri(uri: string): string | undefined {
  const url = new URL(uri);
  const pathStyle = /^[\d.]+$/.test(url.hostname) || url.hostname === "localhost" || url.hostname.startsWith("[");
  return pathStyle ? url.pathname.split("/").filter(Boolean)[0] : url.hostname.split(".")[0];
}

function resolveConnectionString(name: string, setting: string, text: string, needs: ConnectionNeeds): Resolved<StorageConnection> {
  const parsed = connectionStringParts.safeParse(parseConnectionString(text));
  if (!parsed.success) {
    return {
      ok: false,
      problems: parsed.error.issues.map((issue) => {
        const part = typeof issue.path[0] === "string" ? ` ${CONNECTION_STRING_KEYS[issue.path[0]] ?? issue.path[0]}` : "";
        return `${setting}: connection string${part}: ${issue.message}`;
      }),
    };
  }
  const parts = parsed.data;
  if (parts.usedevelopmentstorage !== undefined) {
    return { ok: true, value: { name, kind: "connectionString", connectionString: text, accountName: DEV_ACCOUNT, auth: "accountKey" } };
  }
  const problems: string[] = [];
  if (needs.blob && parts.blobendpoint === undefined && parts.accountname === undefined) {
    problems.push(`${setting}: connection string: names no blob endpoint (AccountName or BlobEndpoint)`);
  }
  if (needs.queue && parts.queueendpoint === undefined && parts.accountname === undefined) {
    problems.push(`${setting}: connection string: names no queue endpoint (AccountName or QueueEndpoint)`);
  }
  const endpoint = parts.blobendpoint ?? parts.queueendpoint;
  const accountName = parts.accountname ?? (endpoint === undefined ? undefined : accountFromServiceUri(endpoint));
  if (accountName === undefined) problems.push(`${setting}: connection string: names no account`);
  if (problems.length > 0 || accountName === undefined) return { ok: false, problems };
  const auth = parts.accountkey === undefined ? "sas" : "accountKey";
  return { ok: true, value: { name, kind: "connectionString", connectionString: text, accountName, auth } };
}

function resolveIdentity(name: string, section: SettingSection, needs: ConnectionNeeds): Resolved<StorageConnection> {
  const problems: string[] = [];
  const uris: Partial<Record<keyof typeof serviceSettings, string>> = {};
  for (const key of Object.keys(serviceSettings) as (keyof typeof serviceSettings)[]) {
    const setting = section.children.get(key);
    if (setting === undefined) continue;
    const parsed = serviceSettings[key].safeParse(setting.value);
    if (parsed.success) uris[key] = parsed.data;
    else problems.push(`${setting.key}: ${parsed.error.issues[0]?.message ?? "invalid"}`);
  }
  const credential = resolveIdentityCredential(section);
  if (!credential.ok) problems.push(...credential.problems);
  if (problems.length > 0 || !credential.ok) return { ok: false, problems };

  const fromAccount = (service: string): string | undefined =>
    uris.accountname === undefined ? undefined : `https://${uris.accountname}.${service}.core.windows.net`;
  const blobServiceUri = uris.blobserviceuri ?? uris.serviceuri ?? fromAccount("blob");
  const queueServiceUri = uris.queueserviceuri ?? fromAccount("queue");
  if (needs.blob && blobServiceUri === undefined) problems.push(`${section.path}__blobServiceUri: missing (needed for an identity-based connection)`);
  if (needs.queue && queueServiceUri === undefined) problems.push(`${section.path}__queueServiceUri: missing (needed for an identity-based connection)`);
  const anyUri = blobServiceUri ?? queueServiceUri;
  const accountName = anyUri === undefined ? undefined : accountFromServiceUri(anyUri);
  if (problems.length > 0 || accountName === undefined) {
    return { ok: false, problems: problems.length > 0 ? problems : [`${section.path}: cannot tell the account from the service URI`] };
  }
  return {
    ok: true,
    value: {
      name,
      kind: "identity",
      accountName,
      ...(blobServiceUri !== undefined && { blobServiceUri }),
      ...(queueServiceUri !== undefined && { queueServiceUri }),
      credential: credential.value,
    },
  };
}

/** Resolves the connection `name` from the environment as the host would, naming every problem and never echoing a value. */
export function resolveConnection(env: Env, name: string, needs: ConnectionNeeds): Resolved<StorageConnection> {
  const section = connectionSection(env, name);
  if (section === undefined) {
    return {
      ok: false,
      problems: [
        `${name}: missing (set a connection string in ${name}, or ${name}__blobServiceUri / ${name}__queueServiceUri for an identity-based connection)`,
      ],
    };
  }
  if (section.ambiguous.length > 0) {
    return {
      ok: false,
      problems: section.ambiguous.map((keys) => `${keys}: the Functions host reads setting names case-insensitively, so these are one setting; keep one`),
    };
  }
  if (section.value !== undefined) return resolveConnectionString(name, section.value.key, section.value.value, needs);
  return resolveIdentity(name, section, needs);
}
