/**
 * Storage connections, resolved the way the Functions host resolves binding connections, so one set of app settings
 * serves both the bindings and our SDK clients:
 *   - `<Name>` holds a connection string, or
 *   - `<Name>__blobServiceUri` / `<Name>__queueServiceUri` (or `<Name>__accountName`, or the legacy
 *     `<Name>__serviceUri` for blobs) with `<Name>__credential` / `<Name>__clientId` for an identity.
 *
 * Problems never echo a value: a connection string carries a key.
 */
import { z } from "zod";

export type StorageConnection =
  | {
      readonly name: string;
      readonly kind: "connectionString";
      /** Secret: never log it. */
      readonly connectionString: string;
      readonly accountName: string;
    }
  | {
      readonly name: string;
      readonly kind: "identity";
      readonly blobServiceUri?: string;
      readonly queueServiceUri?: string;
      /** User-assigned managed identity; absent means the system identity or the developer's own sign-in. */
      readonly clientId?: string;
      /** `managedidentity` restricts the credential to managed identity, as the Functions host does. */
      readonly credential?: "managedidentity";
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

const identitySettings = z.object({
  accountName: z.string().regex(/^[a-z0-9]{3,24}$/, "must be 3–24 lowercase letters and digits").optional(),
  blobServiceUri: httpUrl.optional(),
  serviceUri: httpUrl.optional(),
  queueServiceUri: httpUrl.optional(),
  credential: z
    .string()
    .transform((v) => v.toLowerCase())
    .pipe(z.literal("managedidentity", { error: 'must be "managedidentity" when set' }))
    .optional(),
  clientId: z.guid("must be a GUID (the client id of a user-assigned managed identity)").optional(),
});

/** Account name from a service URL: the first host label in Azure, the first path segment for path-style (Azurite). */
export function accountFromServiceUri(uri: string): string | undefined {
  const url = new URL(uri);
  const pathStyle = /^[\d.]+$/.test(url.hostname) || url.hostname === "localhost" || url.hostname.startsWith("[");
  return pathStyle ? url.pathname.split("/").filter(Boolean)[0] : url.hostname.split(".")[0];
}

function issuesOf(prefix: string, error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const key = issue.path.length > 0 ? `${prefix}__${issue.path.join(".")}` : prefix;
    // Zod's own message for a failed key lookup would be generic; ours are written for the reader of app settings.
    return `${key}: ${issue.message}`;
  });
}

function resolveConnectionString(name: string, text: string, needs: ConnectionNeeds): Resolved<StorageConnection> {
  const parsed = connectionStringParts.safeParse(parseConnectionString(text));
  if (!parsed.success) {
    return {
      ok: false,
      problems: parsed.error.issues.map((issue) => {
        const part = typeof issue.path[0] === "string" ? ` ${CONNECTION_STRING_KEYS[issue.path[0]] ?? issue.path[0]}` : "";
        return `${name}: connection string${part}: ${issue.message}`;
      }),
    };
  }
  const parts = parsed.data;
  if (parts.usedevelopmentstorage !== undefined) {
    return { ok: true, value: { name, kind: "connectionString", connectionString: text, accountName: DEV_ACCOUNT } };
  }
  const problems: string[] = [];
  if (needs.blob && parts.blobendpoint === undefined && parts.accountname === undefined) {
    problems.push(`${name}: connection string: names no blob endpoint (AccountName or BlobEndpoint)`);
  }
  if (needs.queue && parts.queueendpoint === undefined && parts.accountname === undefined) {
    problems.push(`${name}: connection string: names no queue endpoint (AccountName or QueueEndpoint)`);
  }
  const endpoint = parts.blobendpoint ?? parts.queueendpoint;
  const accountName = parts.accountname ?? (endpoint === undefined ? undefined : accountFromServiceUri(endpoint));
  if (accountName === undefined) problems.push(`${name}: connection string: names no account`);
  if (problems.length > 0 || accountName === undefined) return { ok: false, problems };
  return { ok: true, value: { name, kind: "connectionString", connectionString: text, accountName } };
}

function resolveIdentity(name: string, env: Env, needs: ConnectionNeeds): Resolved<StorageConnection> {
  const raw = Object.fromEntries(
    Object.keys(identitySettings.shape).map((key) => [key, nonEmpty(env[`${name}__${key}`])]),
  );
  const parsed = identitySettings.safeParse(raw);
  if (!parsed.success) return { ok: false, problems: issuesOf(name, parsed.error) };
  const s = parsed.data;
  const fromAccount = (service: string): string | undefined =>
    s.accountName === undefined ? undefined : `https://${s.accountName}.${service}.core.windows.net`;
  const blobServiceUri = s.blobServiceUri ?? s.serviceUri ?? fromAccount("blob");
  const queueServiceUri = s.queueServiceUri ?? fromAccount("queue");
  const problems: string[] = [];
  if (needs.blob && blobServiceUri === undefined) problems.push(`${name}__blobServiceUri: missing (needed for an identity-based connection)`);
  if (needs.queue && queueServiceUri === undefined) problems.push(`${name}__queueServiceUri: missing (needed for an identity-based connection)`);
  const anyUri = blobServiceUri ?? queueServiceUri;
  const accountName = anyUri === undefined ? undefined : accountFromServiceUri(anyUri);
  if (problems.length > 0 || accountName === undefined) {
    return { ok: false, problems: problems.length > 0 ? problems : [`${name}: cannot tell the account from the service URI`] };
  }
  return {
    ok: true,
    value: {
      name,
      kind: "identity",
      accountName,
      ...(blobServiceUri !== undefined && { blobServiceUri }),
      ...(queueServiceUri !== undefined && { queueServiceUri }),
      ...(s.clientId !== undefined && { clientId: s.clientId }),
      ...(s.credential !== undefined && { credential: s.credential }),
    },
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}

/** Resolves the connection `name` from the environment, naming every problem and never echoing a value. */
export function resolveConnection(env: Env, name: string, needs: ConnectionNeeds): Resolved<StorageConnection> {
  const connectionString = nonEmpty(env[name]);
  if (connectionString !== undefined) return resolveConnectionString(name, connectionString, needs);
  const hasIdentitySettings = Object.keys(env).some((key) => key.startsWith(`${name}__`) && nonEmpty(env[key]) !== undefined);
  if (hasIdentitySettings) return resolveIdentity(name, env, needs);
  return {
    ok: false,
    problems: [
      `${name}: missing (set a connection string in ${name}, or ${name}__blobServiceUri / ${name}__queueServiceUri for an identity-based connection)`,
    ],
  };
}
