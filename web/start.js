// Starts the app (the order desk, or an example: `cargo xtask example NAME --web` names its
// module `lucarne-web` too); a separate file: the server's Content-Security-Policy allows no
// inline scripts. The module paints into a <canvas> it appends to <body>.
import init from './lucarne-web.js';
import { acceptText } from './keyboard.js';

// Once the canvas is there: text that arrives without key presses reaches it (`keyboard.js`),
// and the tab shows the app's window title, in the app's language (winit writes the title into
// the canvas's `alt` attribute; this copies it into the document's).
let canvas = null;
new MutationObserver(() => {
  const found = document.querySelector('canvas');
  if (found && found !== canvas) {
    canvas = found;
    acceptText(canvas);
  }
  const title = canvas?.getAttribute('alt');
  if (title && document.title !== title) {
    document.title = title;
  }
}).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['alt'] });

init({ module_or_path: './lucarne-web_bg.wasm' }).catch((e) => console.error('lucarne-web failed to start', e));

// The service worker that shows the server's pushes as notifications (`sw.js`).
if ('serviceWorker' in navigator) {
  navigator.serviceWorker.register('./sw.js').catch((e) => console.warn('no service worker', e));
}

// "Notify me" (the desk's `notify.rs`): a push subscription for the server's key
// (`welcome.push_key`), as the JSON text the server registers.
window.lucarnePush = {
  async subscribe(key) {
    if (!('serviceWorker' in navigator) || !('PushManager' in window)) {
      throw new Error('this browser has no push notifications');
    }
    if ((await Notification.requestPermission()) !== 'granted') {
      throw new Error('notifications are not allowed for this page');
    }
    const registration = await navigator.serviceWorker.ready;
    const subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
    return JSON.stringify(subscription.toJSON());
  },
};
