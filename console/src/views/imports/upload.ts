/**
 * The file's PUT to where the API said: a presigned S3 URL in AWS (no token: the URL is the permission), the
 * API's own upload path locally (`authorized`: the admin's token). Errors become ApiErrors like every call.
 */
import { ApiError, type components } from "../../api/client";

type Slot = components["schemas"]["MemberImportUploadView"];

export async function putFile(slot: Slot, file: Blob, token: string | null): Promise<void> {
  const headers: Record<string, string> = { ...slot.headers };
  if (slot.authorized && token) headers.Authorization = `Bearer ${token}`;
  let answer: Response;
  try {
    answer = await fetch(slot.url, { method: slot.method, headers, body: file });
  } catch {
    throw new ApiError("NETWORK", "网络异常，请重试", 0);
  }
  if (answer.ok) return;
  let body: { error?: { code?: string; message?: string } } = {};
  try {
    body = (await answer.json()) as typeof body;
  } catch {
    // S3 answers XML: its status says enough
  }
  throw new ApiError(body.error?.code ?? `HTTP_${answer.status}`, body.error?.message ?? answer.statusText, answer.status);
}
