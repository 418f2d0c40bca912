/** Azure naming rules that every boundary (HTTP route, settings, queue message) checks the same way. */

/** Container names: 3–63 characters, lowercase letters, digits and single hyphens, starting and ending alphanumeric. */
const CONTAINER_NAME = /^(?=.{3,63}$)[a-z0-9]+(?:-[a-z0-9]+)*$/;
/** Queue names follow the same rule as containers. */
const QUEUE_NAME = CONTAINER_NAME;
/** Storage account names: 3–24 lowercase letters and digits. */
const ACCOUNT_NAME = /^[a-z0-9]{3,24}$/;
/** Blob names: 1–1024 characters. */
export const MAX_BLOB_NAME = 1024;
/** C0 controls, DEL and C1 controls: Azure refuses them in names, and in a log line they can forge entries. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;

export function isValidContainerName(name: string): boolean {
  return CONTAINER_NAME.test(name);
}

export function isValidQueueName(name: string): boolean {
  return QUEUE_NAME.test(name);
}

export function isValidAccountName(name: string): boolean {
  return ACCOUNT_NAME.test(name);
}

/** `%XX` sequences decoded, repeatedly, so `%252e%252e` is seen as `..` too; malformed sequences stay as they are. */
function percentDecoded(text: string): string {
  let current = text;
  for (let i = 0; i < 4; i++) {
    const next = current.replace(/%([0-9a-f]{2})/gi, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    if (next === current) break;
    current = next;
  }
  return current;
}

/** True when a `/`-separated segment of the name is `.` or `..`, read as written, with `\` as `/`, or percent-decoded. */
function hasDotSegment(name: string): boolean {
  const decoded = percentDecoded(name);
  return [name, decoded].some((form) => form.replace(/\\/g, "/").split("/").some((segment) => segment === "." || segment === ".."));
}

/**
 * Why a blob name (or a listing prefix) cannot be used safely, or undefined when it can. Dot segments are refused
 * because a URL resolves them: the SDK turns `../other/x` in container `raw` into blob `x` of container `other`, and
 * `a/./b` into `a/b`. Control characters are refused by Azure and would let a name forge log lines.
 */
export function blobNameProblem(name: string): string | undefined {
  if (name.length < 1 || name.length > MAX_BLOB_NAME) return `must be 1–${MAX_BLOB_NAME} characters`;
  if (CONTROL_CHARACTER.test(name)) return "must not contain control characters";
  if (hasDotSegment(name)) return 'must not have "." or ".." path segments (also with "\\" for "/" or percent-encoded)';
  return undefined;
}

export function isValidBlobName(name: string): boolean {
  return blobNameProblem(name) === undefined;
}

export const CONTAINER_NAME_RULE = "3–63 characters: lowercase letters, digits and single hyphens, starting and ending with a letter or digit";

/**
 * The backup account's container where ADF runs write before the conditional commit (src/copy/adf-pipeline.ts).
 * Reserved: no lake container may be backed up into it (src/domain/container-policy.ts).
 */
export const STAGING_CONTAINER = "datalake-backup-staging";

/** The placeholder that BACKUP_CONTAINER_TEMPLATE must contain. */
export const CONTAINER_PLACEHOLDER = "{container}";

/** The backup container for a source container, from BACKUP_CONTAINER_TEMPLATE (default `{container}`). */
export function backupContainerName(template: string, container: string): string {
  return template.split(CONTAINER_PLACEHOLDER).join(container);
}

/**
 * A template is usable when it contains the placeholder and turns a short container name into a valid one. A long
 * source name can still overflow 63 characters with a prefix; that is reported for that container when it is used.
 */
export function isValidBackupContainerTemplate(template: string): boolean {
  return template.includes(CONTAINER_PLACEHOLDER) && isValidContainerName(backupContainerName(template, "abc"));
}
