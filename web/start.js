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

// "Export PDF" / "Export orders" (the desk's `download.rs`): the PDF module is fetched the first
// time (`pdf/`, built by `cargo xtask web`; the page's first load stays without printpdf), prints
// the screen with the desk's settings (JSON text) and the file is downloaded. Resolves to
// `{file, pages, ms}`.
let pdfModule = null;
window.lucarneExport = async (settings) => {
  const started = performance.now();
  pdfModule ??= import('./pdf/lucarne-web-pdf.js').then(async (module) => {
    await module.default({ module_or_path: new URL('./pdf/lucarne-web-pdf_bg.wasm', import.meta.url) });
    return module;
  });
  let module;
  try {
    module = await pdfModule;
  } catch (e) {
    pdfModule = null; // tried again on the next press
    throw e;
  }
  const { pdf, pages } = await module.exportScreen(settings);
  const file = `lucarne-${JSON.parse(settings).screen}-${Math.floor(Date.now() / 1000)}.pdf`;
  const url = URL.createObjectURL(new Blob([pdf], { type: 'application/pdf' }));
  const link = document.createElement('a');
  link.href = url;
  link.download = file;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return { file, pages, ms: Math.round(performance.now() - started) };
};
