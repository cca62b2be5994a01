/** `wx.request` on node's fetch, so the journey runs through the same client the mini program uses. */
import type { Wx, WxRequestOptions } from "../src/kabao.js";

export const wx: Wx = {
  request(options: WxRequestOptions): void {
    const body = options.data === undefined ? undefined : JSON.stringify(options.data);
    fetch(options.url, { method: options.method, headers: options.header, body })
      .then(async (res) => {
        const text = await res.text();
        const header: Record<string, string> = {};
        res.headers.forEach((value, name) => (header[name] = value));
        // wx.request with dataType json parses the body when it can, and hands back the text otherwise.
        let data: unknown = text;
        try { data = text ? JSON.parse(text) : ""; } catch { /* keep the text */ }
        options.success({ statusCode: res.status, data, header });
      })
      .catch((err: Error) => options.fail({ errMsg: `request:fail ${err.message}` }));
  },
};
