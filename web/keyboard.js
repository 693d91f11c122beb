// Text for a canvas app that arrives without key presses: an input method's composition, dictation,
// an on-screen keyboard, a paste (DevTools' `Input.insertText` delivers text the same way).
//
//     import { acceptText } from './keyboard.js';
//     acceptText(document.querySelector('canvas'));
//
// The browser gives such text only to an editable element with the focus, and winit's canvas is
// not one. So a hidden one-line proxy takes the focus whenever the canvas gets it. Key presses
// reach the proxy and are handed on to the canvas as the same key events; text the proxy receives
// as an insertion is handed on as one key press per character (per grapheme), which is how winit
// gives typed text to iced. To winit the canvas keeps the focus while the proxy holds it: the
// canvas's blur that the hand-over causes is kept from it, and the proxy's own blur and focus are
// passed on as the canvas's.
//
// Limits: the input method's candidate window opens at the page's top corner (the proxy does not
// follow the caret); a touch device shows its keyboard whenever the canvas has the focus; and a
// soft keyboard that reports its keys as `Unidentified` (keyCode 229, Android's) deletes nothing:
// Backspace on an empty proxy makes no insertion to hand on.

const KEY_FIELDS = ['key', 'code', 'location', 'repeat', 'ctrlKey', 'shiftKey', 'altKey', 'metaKey'];

/// Sends `type` (`keydown` / `keyup`) to `target` with the fields of `init`.
function key(target, type, init) {
  const fields = Object.fromEntries(KEY_FIELDS.filter((f) => f in init).map((f) => [f, init[f]]));
  target.dispatchEvent(new KeyboardEvent(type, { ...fields, bubbles: true, cancelable: true }));
}

/// The characters a person sees in `text`, as the keys that would type them. Line breaks and
/// tabs become spaces: they would otherwise arrive as Enter and Tab.
function graphemes(text) {
  const flat = text.replace(/[\r\n\t]+/g, ' ');
  if (typeof Intl !== 'undefined' && Intl.Segmenter) {
    return Array.from(new Intl.Segmenter(undefined, { granularity: 'grapheme' }).segment(flat), (s) => s.segment);
  }
  return Array.from(flat);
}

/// Whether `event` is a paste shortcut (the browser's paste then inserts into the proxy):
/// Ctrl/Cmd+V by the key's place, whatever letter the layout puts there (an Arabic, Hebrew or
/// Russian layout reports its own), and Shift+Insert.
function isPaste(event) {
  const v = event.code === 'KeyV' || event.key.toLowerCase() === 'v';
  return ((event.ctrlKey || event.metaKey) && !event.altKey && v) || (event.shiftKey && event.key === 'Insert');
}

export function acceptText(canvas) {
  const proxy = document.createElement('textarea');
  proxy.rows = 1;
  proxy.tabIndex = -1;
  proxy.setAttribute('autocomplete', 'off');
  proxy.setAttribute('autocapitalize', 'off');
  proxy.setAttribute('spellcheck', 'false');
  proxy.setAttribute('aria-label', canvas.getAttribute('alt') ?? '');
  Object.assign(proxy.style, {
    position: 'fixed', left: '0', top: '0', width: '1px', height: '1px', padding: '0', border: '0',
    opacity: '0', resize: 'none', overflow: 'hidden', pointerEvents: 'none', caretColor: 'transparent',
  });
  document.body.append(proxy);

  // The hand-over: whenever the canvas is focused (a click, Tab, the app), the proxy is.
  canvas.addEventListener('focus', () => {
    if (document.activeElement !== proxy) {
      proxy.focus({ preventScroll: true });
    }
  });
  // The canvas's blur caused by the hand-over never reaches winit (a capturing listener on the
  // window runs before the canvas's own).
  window.addEventListener('blur', (event) => {
    if (event.target === canvas && event.relatedTarget === proxy) {
      event.stopImmediatePropagation();
    }
  }, true);
  // The proxy's focus and blur, when they are not the hand-over, are the canvas's to winit.
  proxy.addEventListener('blur', (event) => {
    if (event.relatedTarget !== canvas) {
      canvas.dispatchEvent(new FocusEvent('blur'));
    }
  });
  proxy.addEventListener('focus', (event) => {
    if (event.relatedTarget !== canvas) {
      canvas.dispatchEvent(new FocusEvent('focus'));
    }
  });

  // Keys go on to the canvas as they are, except while an input method composes (its text comes
  // as an insertion) and the paste shortcut (the browser's paste then inserts into the proxy).
  for (const type of ['keydown', 'keyup']) {
    proxy.addEventListener(type, (event) => {
      if (event.isComposing || event.keyCode === 229) {
        return;
      }
      if (isPaste(event)) {
        return;
      }
      event.preventDefault();
      key(canvas, type, event);
    });
  }

  // An insertion, once it is final, goes on as key presses; the proxy is then emptied.
  const flush = () => {
    const text = proxy.value;
    proxy.value = '';
    for (const g of graphemes(text)) {
      key(canvas, 'keydown', { key: g });
      key(canvas, 'keyup', { key: g });
    }
  };
  proxy.addEventListener('input', (event) => {
    if (!event.isComposing) {
      flush();
    }
  });
  proxy.addEventListener('compositionend', flush);

  // The label follows the app's title (winit writes it into the canvas's `alt`).
  new MutationObserver(() => proxy.setAttribute('aria-label', canvas.getAttribute('alt') ?? ''))
    .observe(canvas, { attributes: true, attributeFilter: ['alt'] });

  // The canvas may have the focus already.
  if (document.activeElement === canvas) {
    proxy.focus({ preventScroll: true });
  }
}
