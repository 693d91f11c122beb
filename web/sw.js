// The service worker of a Lucarne web app, registered by start.js at the site's root.
//
// A push from the server (docs/protocol.md §17) carries a push notice: the view that changed,
// the last row's key, how many changes it stands for, and the notification's text, already in
// the user's language. It is shown as a notification, one per push registration (a newer push
// replaces the one still shown), each text laid out from its own first strong character
// (`dir: 'auto'`: Arabic and Hebrew right to left, Latin left to right). A push without text
// shows a short line in the browser's language. A click brings the app's window forward, or
// opens the app when none is open; the app then syncs over its WebSocket as usual.

const FALLBACK = {
  en: 'Something changed',
  ar: 'تغيّر شيء ما',
  he: 'משהו השתנה',
};

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('push', (event) => {
  let notice = {};
  try {
    notice = event.data ? event.data.json() : {};
  } catch (_) {
    // Not a push notice (e.g. a test from a tool): the fallback text.
  }
  const language = (self.navigator.language || 'en').slice(0, 2);
  const title = notice.title || FALLBACK[language] || FALLBACK.en;
  event.waitUntil(
    self.registration.showNotification(title, {
      body: notice.body || '',
      tag: notice.registration || 'lucarne',
      renotify: true,
      dir: 'auto',
      data: notice,
    }),
  );
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  event.waitUntil(
    (async () => {
      const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
      const open = windows.find((w) => new URL(w.url).origin === self.location.origin);
      if (open) {
        return open.focus();
      }
      return self.clients.openWindow('/');
    })(),
  );
});
