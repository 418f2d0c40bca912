/**
 * The identity of an identity-based connection, chosen from its settings exactly as the Functions host chooses it
 * (Microsoft.Extensions.Azure ClientFactory.CreateCredential, which the host's storage bindings use), so the app's SDK
 * clients and the host's bindings always run as the same identity:
 *
 *   1. `credential=managedidentity` → managed identity: `clientId` or `managedIdentityResourceId` (not both), else the
 *      system-assigned identity;
 *   2. `tenantId` + `clientId` + `clientSecret` → that service principal;
 *   3. `tenantId` + `clientId` + `clientCertificate` → the host loads the certificate from the Windows/.NET certificate
 *      store by thumbprint, which Node cannot read: refused, rather than run the app as another identity;
 *   4. any of `tenantId`, `clientId`, `managedIdentityResourceId` → DefaultAzureCredential with them;
 *   5. nothing → DefaultAzureCredential.
 */
import { z } from "zod";

import type { SettingSection } from "./setting-sections";

export type IdentityCredential =
  | { readonly kind: "managedIdentity"; readonly clientId?: string; readonly resourceId?: string }
  /** Secret: never log `clientSecret`. */
  | { readonly kind: "clientSecret"; readonly tenantId: string; readonly clientId: string; readonly clientSecret: string }
  | { readonly kind: "default"; readonly tenantId?: string; readonly clientId?: string; readonly resourceId?: string };

const guid = (what: string) => z.guid(`must be a GUID (${what})`);
const fields = {
  credential: z
    .string()
    .transform((v) => v.toLowerCase())
    .pipe(z.literal("managedidentity", { error: 'must be "managedidentity" when set (the only credential type this app supports)' })),
  clientid: guid("the client id of a user-assigned managed identity or of an app registration"),
  tenantid: z
    .string()
    .regex(/^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[a-z0-9-]+(\.[a-z0-9-]+)+)$/i, "must be a tenant id (GUID) or domain"),
  managedidentityresourceid: z
    .string()
    .regex(
      /^\/subscriptions\/[^/]+\/resourcegroups\/[^/]+\/providers\/microsoft\.managedidentity\/userassignedidentities\/[^/]+$/i,
      "must be the resource id of a user-assigned managed identity (/subscriptions/…/providers/Microsoft.ManagedIdentity/userAssignedIdentities/…)",
    ),
  clientsecret: z.string(),
  clientcertificate: z.string(),
} as const;

type Field = keyof typeof fields;

export type CredentialResolution = { readonly ok: true; readonly value: IdentityCredential } | { readonly ok: false; readonly problems: string[] };

/** Resolves the credential of an identity-based connection section, naming every problem by the setting's own name. */
export function resolveIdentityCredential(section: SettingSection): CredentialResolution {
  const problems: string[] = [];
  const values: Partial<Record<Field, string>> = {};
  for (const field of Object.keys(fields) as Field[]) {
    const setting = section.children.get(field);
    if (setting === undefined) continue;
    const parsed = fields[field].safeParse(setting.value);
    // Messages name the setting, never its value (a secret may be among them).
    if (parsed.success) values[field] = parsed.data;
    else problems.push(`${setting.key}: ${parsed.error.issues[0]?.message ?? "invalid"}`);
  }
  if (problems.length > 0) return { ok: false, problems };
  const name = (field: Field): string => section.children.get(field)?.key ?? `${section.path}__${field}`;
  const { credential, clientid: clientId, tenantid: tenantId, managedidentityresourceid: resourceId, clientsecret, clientcertificate } = values;
  const both = `${name("clientid")} and ${name("managedidentityresourceid")}: set one of them, not both (the host refuses both)`;

  if (credential === "managedidentity") {
    if (clientId !== undefined && resourceId !== undefined) return { ok: false, problems: [both] };
    return {
      ok: true,
      value: { kind: "managedIdentity", ...(clientId !== undefined && { clientId }), ...(resourceId !== undefined && { resourceId }) },
    };
  }
  if (tenantId !== undefined && clientId !== undefined && clientsecret !== undefined) {
    return { ok: true, value: { kind: "clientSecret", tenantId, clientId, clientSecret: clientsecret } };
  }
  if (tenantId !== undefined && clientId !== undefined && clientcertificate !== undefined) {
    return {
      ok: false,
      problems: [
        `${name("clientcertificate")}: the host loads this certificate from the .NET certificate store by thumbprint, which the app's Node SDK clients cannot read; use a managed identity or ${section.path}__clientSecret so both run as the same identity`,
      ],
    };
  }
  if (clientId !== undefined && resourceId !== undefined) return { ok: false, problems: [both] };
  return {
    ok: true,
    value: {
      kind: "default",
      ...(tenantId !== undefined && { tenantId }),
      ...(clientId !== undefined && { clientId }),
      ...(resourceId !== undefined && { resourceId }),
    },
  };
}
