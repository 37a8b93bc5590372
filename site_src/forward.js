/* An entry's page (a/…/, for link previews) forwards to its viewer with the link's other
 * parameters and hash; page=video2 opens the activation viewer. */
"use strict";

(function () {
  const meta = document.querySelector('meta[name="zoo-viewer"]');
  if (!meta) return;
  const target = new URL(meta.content, location.href);
  const extra = new URLSearchParams(location.search);
  if (extra.get("page") === "video2") target.pathname = target.pathname.replace(/video\.html$/, "video2.html");
  for (const [key, value] of extra) {
    if (!["algo", "game", "run", "tag", "page"].includes(key)) target.searchParams.set(key, value);
  }
  location.replace(target.href + location.hash);
})();
