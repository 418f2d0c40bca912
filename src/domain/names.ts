/** Azure naming rules that every boundary (HTTP route, settings, queue message) checks the same way. */

/** Container names: 3–63 characters, lowercase letters, digits and single hyphens, starting and ending alphanumeric. */
const CONTAINER_NAME = /^(?=.{3,63}$)[a-z0-9]+(?:-[a-z0-9]+)*$/;
/** Queue names follow the same rule as containers. */
const QUEUE_NAME = CONTAINER_NAME;
/** Storage account names: 3–24 lowercase letters and digits. */
const ACCOUNT_NAME = /^[a-z0-9]{3,24}$/;
/** Blob names: 1–1024 characters. */
const MAX_BLOB_NAME = 1024;

export function isValidContainerName(name: string): boolean {
  return CONTAINER_NAME.test(name);
}

export function isValidQueueName(name: string): boolean {
  return QUEUE_NAME.test(name);
}

export function isValidAccountName(name: string): boolean {
  return ACCOUNT_NAME.test(name);
}

export function isValidBlobName(name: string): boolean {
  return name.length >= 1 && name.length <= MAX_BLOB_NAME;
}

export const CONTAINER_NAME_RULE = "3–63 characters: lowercase letters, digits and single hyphens, starting and ending with a letter or digit";

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
