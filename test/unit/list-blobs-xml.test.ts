/**
 * The List Blobs reader on bodies written by hand: the shapes Azure sends that Azurite does not (names encoded because
 * XML cannot carry them, empty and self-closing elements, character references, CDATA, a metadata key that shares
 * its name with an element of the schema), and malformed bodies refused rather than read as an empty page.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";

import { decodeXmlText, parseListBlobsXml } from "../../src/storage/list-blobs-xml";

const page = (blobs: string, tail = "<NextMarker />"): string =>
  `\uFEFF<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="https://a.blob.core.windows.net/" ContainerName="c"><MaxResults>5000</MaxResults><Blobs>${blobs}</Blobs>${tail}</EnumerationResults>`;

const blob = (inner: string): string =>
  `<Blob>${inner}<Properties><Creation-Time>Tue, 01 Dec 2026 10:00:00 GMT</Creation-Time><Last-Modified>Tue, 01 Dec 2026 11:00:00 GMT</Last-Modified><Etag>0x8DD1</Etag><Content-Length>42</Content-Length><Content-Type>text/csv</Content-Type><Content-MD5>CY9rzUYh03PK3k6DJie09g==</Content-MD5><BlobType>BlockBlob</BlobType><AccessTier>Hot</AccessTier><AccessTierInferred>true</AccessTierInferred><LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState><ServerEncrypted>true</ServerEncrypted></Properties></Blob>`;

describe("List Blobs reader", () => {
  it("reads a blob's name, properties and metadata under the SDK's names and types", () => {
    const xml = page(blob("<Name>dir/a.csv</Name>").replace("</Properties>", "</Properties><Metadata><backup_source_etag>&quot;0x1&quot;</backup_source_etag><Metadata>inner</Metadata><Blob>x</Blob></Metadata>"));
    const { items, prefixes, nextMarker } = parseListBlobsXml(xml);
    assert.deepEqual(prefixes, []);
    assert.equal(nextMarker, undefined);
    assert.equal(items.length, 1);
    const [item] = items;
    assert.ok(item !== undefined);
    assert.equal(item.name, "dir/a.csv");
    assert.equal(item.snapshot, undefined);
    assert.equal(item.deleted, false);
    assert.equal(item.properties.etag, "0x8DD1");
    assert.equal(item.properties.contentLength, 42);
    assert.equal(item.properties.lastModified.toISOString(), "2026-12-01T11:00:00.000Z");
    assert.equal(item.properties.createdOn?.toISOString(), "2026-12-01T10:00:00.000Z");
    assert.equal(Buffer.from(item.properties.contentMD5 ?? []).toString("base64"), "CY9rzUYh03PK3k6DJie09g==");
    assert.equal(item.properties.accessTier, "Hot");
    assert.equal(item.properties.accessTierInferred, true);
    assert.equal(item.properties.blobType, "BlockBlob");
    assert.equal(item.properties.leaseState, "available");
    assert.deepEqual(item.metadata, { backup_source_etag: '"0x1"', Metadata: "inner", Blob: "x" });
  });

  it("decodes names Azure percent-encodes because XML cannot carry them, and leaves other names as written", () => {
    const xml = page(
      [blob('<Name Encoded="true">bad%EF%BF%BEname%01</Name>'), blob("<Name>50%25 &amp; &#x1F600; &#233;</Name><Snapshot>2026-12-01T10:00:00.0000000Z</Snapshot>")].join(""),
      "<NextMarker>2!84!MDAwMDE5IWJhZA--</NextMarker>",
    );
    const { items, nextMarker } = parseListBlobsXml(xml);
    assert.deepEqual(
      items.map((i) => i.name),
      ["bad\uFFFEname\u0001", "50%25 & \u{1F600} é"],
    );
    assert.equal(items[1]?.snapshot, "2026-12-01T10:00:00.0000000Z");
    assert.equal(nextMarker, "2!84!MDAwMDE5IWJhZA--");
  });

  it("reads versions, deleted entries and the directories of a hierarchical listing", () => {
    const xml = page(
      `${blob("<Name>v</Name><VersionId>2026-12-01T10:00:00.1234567Z</VersionId><IsCurrentVersion>true</IsCurrentVersion>")}${blob("<Name>gone</Name><Deleted>true</Deleted>")}<BlobPrefix><Name>dir/</Name></BlobPrefix><BlobPrefix><Name Encoded="true">x%01/</Name></BlobPrefix>`,
    );
    const { items, prefixes } = parseListBlobsXml(xml);
    assert.equal(items[0]?.versionId, "2026-12-01T10:00:00.1234567Z");
    assert.equal(items[0]?.isCurrentVersion, true);
    assert.equal(items[1]?.deleted, true);
    assert.deepEqual(prefixes, ["dir/", "x\u0001/"]);
  });

  it("reads empty and self-closing elements, CDATA and an empty page", () => {
    const xml = page(blob("<Name><![CDATA[a<b>&c]]></Name><Snapshot />").replace("<Content-MD5>CY9rzUYh03PK3k6DJie09g==</Content-MD5>", "<Content-MD5 />").replace("</Properties>", "</Properties><Metadata />"));
    const [item] = parseListBlobsXml(xml).items;
    assert.equal(item?.name, "a<b>&c");
    assert.equal(item?.snapshot, undefined);
    assert.equal(item?.properties.contentMD5, undefined);
    assert.deepEqual(item?.metadata, {});
    assert.deepEqual(parseListBlobsXml(page("")), { items: [], prefixes: [] });
    assert.deepEqual(parseListBlobsXml('<?xml version="1.0"?><EnumerationResults><Blobs /><NextMarker /></EnumerationResults>'), { items: [], prefixes: [] });
  });

  it("refuses a body that is not a whole listing instead of reading it as an empty page", () => {
    assert.throws(() => parseListBlobsXml('<?xml version="1.0"?><Error><Code>ContainerNotFound</Code></Error>'), /not a listing/);
    assert.throws(() => parseListBlobsXml(""), /not a listing/);
    assert.throws(() => parseListBlobsXml(page(blob("<Name>a</Name>")).slice(0, 300)), /ended inside/);
    assert.throws(() => parseListBlobsXml(page("<Blob><Name>a</Blob>")), /closes <Blob> inside <Name>/);
    assert.throws(() => parseListBlobsXml(page("<Blob><Properties /></Blob>")), /no <Name>/);
    assert.throws(() => decodeXmlText("a &nbsp; b"), /unknown entity/);
  });
});
