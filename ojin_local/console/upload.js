// An upload from the browser, the way the API asks any client to make one: initiate, sign each
// part, PUT the parts straight to their pre-signed URLs (several at once, reading each answer's
// ETag), then finalize with the parts in order.

import { API, ApiError, post } from "./api.js";

const PART_BYTES = 8 * 1024 * 1024; // as the Python client; S3's minimum is 5 MiB
const PARTS_IN_FLIGHT = 4;

/** The category a file's type suggests, among those the spec lists. */
export function guessCategory(file, categories) {
  const kind = (file.type || "").split("/")[0];
  if (categories.includes(kind)) return kind;
  return categories.includes("weight") ? "weight" : categories[0];
}

/** Runs the whole flow; `progress(sentBytes, totalBytes, stepText)` is called as bytes go.
 * Throws an ApiError whose message says which step failed. */
export async function uploadFile(file, category, progress) {
  const contentType = file.type || "application/octet-stream";
  const session = await step("Starting the upload", () =>
    post(`${API}/assets/initiate-upload`, { name: file.name, category, content_type: contentType, size_bytes: file.size }),
  );
  const count = Math.max(1, Math.ceil(file.size / PART_BYTES));
  const sent = new Array(count).fill(0);
  const total = file.size;
  const report = (text) => progress(sent.reduce((a, b) => a + b, 0), total, text);
  const parts = [];
  let next = 1;
  let done = 0;
  report(count === 1 ? "Uploading" : `Uploading ${count} parts`);
  const worker = async () => {
    while (next <= count) {
      const number = next++;
      const signed = await step(`Signing part ${number}`, () =>
        post(`${API}/assets/sign-part`, {
          asset_id: session.asset_id,
          upload_id: session.upload_id,
          s3_key: session.s3_key,
          part_number: number,
        }),
      );
      const blob = file.slice((number - 1) * PART_BYTES, Math.min(number * PART_BYTES, file.size));
      const etag = await putPart(signed.upload_url, blob, number, (loaded) => {
        sent[number - 1] = loaded;
        report(count === 1 ? "Uploading" : `Uploading parts (${done} of ${count} done)`);
      });
      done += 1;
      parts.push({ part_number: number, etag });
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARTS_IN_FLIGHT, count) }, worker));
  parts.sort((a, b) => a.part_number - b.part_number);
  progress(total, total, "Finalizing");
  return step("Finalizing", () =>
    post(`${API}/assets`, {
      asset_id: session.asset_id,
      upload_id: session.upload_id,
      name: file.name,
      category,
      content_type: contentType,
      size_bytes: file.size,
      parts,
    }),
  );
}

async function step(what, work) {
  try {
    return await work();
  } catch (error) {
    if (error instanceof ApiError) {
      throw new ApiError(error.status, error.code, `${what} failed: ${error.message}`, error.details);
    }
    throw error;
  }
}

/** One part to its pre-signed URL, with no API key (the URL is the credential). XHR rather
 * than fetch: only XHR reports upload progress. */
function putPart(url, blob, number, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    xhr.upload.onprogress = (event) => onProgress(event.loaded);
    xhr.onload = () => {
      const etag = xhr.getResponseHeader("ETag");
      if (xhr.status === 200 && etag) {
        onProgress(blob.size);
        resolve(etag);
      } else if (xhr.status === 200) {
        reject(new ApiError(200, "NO_ETAG", `Part ${number} was stored but its ETag header cannot be read (CORS: ETag not exposed).`));
      } else {
        const code = /<Code>([^<]+)<\/Code>/.exec(xhr.responseText || "")?.[1] || `HTTP_${xhr.status}`;
        const message = /<Message>([^<]+)<\/Message>/.exec(xhr.responseText || "")?.[1] || xhr.statusText;
        reject(new ApiError(xhr.status, code, `Uploading part ${number} failed: ${message}`));
      }
    };
    xhr.onerror = () => reject(new ApiError(0, "NETWORK_ERROR", `Uploading part ${number} failed: no answer from storage.`));
    xhr.send(blob);
  });
}
