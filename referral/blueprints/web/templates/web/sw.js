// The service worker: the app shell, the intake page and the facility directory offline.
importScripts("/static/vendor/workbox/workbox-sw.js");
workbox.setConfig({ modulePathPrefix: "/static/vendor/workbox/", debug: false });

const { precacheAndRoute } = workbox.precaching;
const { registerRoute } = workbox.routing;
const { NetworkFirst } = workbox.strategies;

precacheAndRoute({{ shell|tojson }});

// Keep only real pages: never a redirect to the sign-in page in place of the intake.
const onlyWholePages = {
  cacheWillUpdate: async ({ response }) =>
    response && response.status === 200 && !response.redirected ? response : null,
};

// The intake page from the server when it answers within a few seconds, else the last copy.
registerRoute(
  ({ request, url }) => request.mode === "navigate" && url.pathname === "/intake",
  new NetworkFirst({ cacheName: "pages", networkTimeoutSeconds: 5, plugins: [onlyWholePages] }),
);

// The facility directory: fresh when possible; offline, the copy last fetched (its Date
// header says when).
registerRoute(
  ({ url }) => url.pathname === "/api/v1/facilities",
  new NetworkFirst({ cacheName: "directory", networkTimeoutSeconds: 5,
                     plugins: [onlyWholePages] }),
);

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

// The intake page asks, as soon as the worker runs, for itself and the whole directory to
// be kept, so even the first visit works offline afterwards (the page that registered the
// worker did not go through it).
const DIRECTORY_PAGE = (page) => `/api/v1/facilities?per_page=${DIRECTORY_PER_PAGE}&page=${page}`;
const DIRECTORY_PER_PAGE = 200;

async function keep(cacheName, url) {
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok || response.redirected) return null;
  await (await caches.open(cacheName)).put(url, response.clone());
  return response;
}

self.addEventListener("message", (event) => {
  if (event.data !== "keep-for-offline") return;
  event.waitUntil((async () => {
    await keep("pages", "/intake");
    for (let page = 1; page < 50; page += 1) {
      const response = await keep("directory", DIRECTORY_PAGE(page));
      if (!response) break;
      const body = await response.json();
      if (page * body.per_page >= body.total) break;
    }
  })());
});
