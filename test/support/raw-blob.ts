/**
 * Writes a blob whose name the SDK would normalise (`../x`, `a/./b`): a PUT with the path sent byte for byte, authorised
 * by an account SAS. Azure and Azurite store such names literally, so a lake can hold them; the tests use this to plant
 * names that a URL would resolve elsewhere.
 */
import http from "node:http";

import {
  AccountSASPermissions,
  AccountSASResourceTypes,
  AccountSASServices,
  generateAccountSASQueryParameters,
  StorageSharedKeyCredential,
} from "@azure/storage-blob";

import type { AzuriteAccount, AzuriteInstance } from "../../dev/azurite";

/** PUTs `content` as `<container>/<rawPath>` (rawPath percent-encoded as it should reach the service). */
export async function putRawBlob(azurite: AzuriteInstance, account: AzuriteAccount, container: string, rawPath: string, content: string): Promise<void> {
  const sas = generateAccountSASQueryParameters(
    {
      permissions: AccountSASPermissions.parse("rwc"),
      resourceTypes: AccountSASResourceTypes.parse("o").toString(),
      services: AccountSASServices.parse("b").toString(),
      expiresOn: new Date(Date.now() + 10 * 60_000),
    },
    new StorageSharedKeyCredential(account.name, account.key),
  ).toString();
  const status = await new Promise<number | undefined>((resolve, reject) => {
    const req = http.request(
      {
        host: azurite.host,
        port: azurite.blobPort,
        method: "PUT",
        path: `/${account.name}/${container}/${rawPath}?${sas}`,
        headers: { "x-ms-blob-type": "BlockBlob", "content-length": Buffer.byteLength(content), "x-ms-version": "2021-12-02" },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode));
      },
    );
    req.on("error", reject);
    req.end(content);
  });
  if (status !== 201) throw new Error(`PUT ${container}/${rawPath} answered ${status}`);
}
