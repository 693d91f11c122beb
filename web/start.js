// Starts the order desk (a separate file: the server's Content-Security-Policy allows no inline
// scripts). The module paints into a <canvas> it appends to <body>.
import init from './lucarne-web.js';

init({ module_or_path: './lucarne-web_bg.wasm' }).catch((e) => console.error('lucarne-web failed to start', e));
