//! The browser bundle (`web/dist`, built by `cargo xtask web`) served over HTTP from the same
//! port as `/ws`: static files with their MIME types (`application/wasm` for the module, which
//! browsers require to compile it while it downloads), precompressed `.br` / `.gz` siblings when
//! the browser accepts them, `index.html` for `/`.
//!
//! The directory is the gateway's (`GatewayConfig::web_dir`): `lucarne serve --web-dir DIR`, or
//! `web/dist` when it exists ([`resolve_dir`]). Nothing else is served: no listing, no path
//! outside the directory.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

/// The bundle served when no directory is given, relative to the working directory.
pub const DEFAULT_DIR: &str = "web/dist";

/// The directory to serve the bundle from: `dir`, or [`DEFAULT_DIR`] when `None` and it exists.
pub fn resolve_dir(dir: Option<PathBuf>) -> Option<PathBuf> {
    if let Some(dir) = dir.as_ref().filter(|d| !d.join("index.html").is_file()) {
        tracing::warn!("{} has no index.html: build the bundle with `cargo xtask web`", dir.display());
    }
    dir.or_else(|| Some(PathBuf::from(DEFAULT_DIR)).filter(|d| d.join("index.html").is_file()))
}

/// The routes: every path not taken by another route is looked up in the bundle of `dir` (none
/// served when `None`).
pub fn router(dir: Option<PathBuf>) -> axum::Router {
    axum::Router::new().fallback(serve).with_state(Arc::new(dir))
}

async fn serve(
    axum::extract::State(dir): axum::extract::State<Arc<Option<PathBuf>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let Some(dir) = dir.as_ref().clone() else {
        return (StatusCode::NOT_FOUND, "no web bundle is served (lucarne serve --web-dir DIR)\n")
            .into_response();
    };
    let Some(relative) = relative(uri.path()) else { return StatusCode::NOT_FOUND.into_response() };
    let Ok(root) = tokio::fs::canonicalize(&dir).await else { return StatusCode::NOT_FOUND.into_response() };
    let path = dir.join(relative);
    let accepts = headers.get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or("");
    let accepts =
        |coding: &str| accepts.split(',').any(|c| c.split(';').next().is_some_and(|c| c.trim() == coding));
    // The precompressed sibling the browser accepts, else the file itself.
    let mut candidates = Vec::with_capacity(3);
    for (coding, suffix) in [("br", "br"), ("gzip", "gz")] {
        if accepts(coding) {
            let mut name = path.clone().into_os_string();
            name.push(".");
            name.push(suffix);
            candidates.push((Some(coding), PathBuf::from(name)));
        }
    }
    candidates.push((None, path.clone()));
    for (coding, file) in candidates {
        let Ok(file) = tokio::fs::canonicalize(&file).await else { continue };
        if !file.starts_with(&root) {
            tracing::info!(path = %uri.path(), "refused: a link out of the web directory");
            continue;
        }
        let Ok(bytes) = tokio::fs::read(&file).await else { continue };
        let mut response = if method == Method::HEAD {
            let mut r = Response::new(Body::empty());
            r.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
            r
        } else {
            Response::new(Body::from(bytes))
        };
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime(&path)));
        // The file names are not hashed: make the browser revalidate, so a rebuild shows at once.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        if let Some(coding) = coding {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
        }
        return response;
    }
    StatusCode::NOT_FOUND.into_response()
}

/// The file a URL path names inside the bundle: `/` is `index.html`; `..`, absolute parts and
/// hidden files are refused.
fn relative(path: &str) -> Option<PathBuf> {
    let path = path.trim_start_matches('/');
    let path =
        if path.is_empty() || path.ends_with('/') { format!("{path}index.html") } else { path.to_owned() };
    let relative = Path::new(&path);
    let plain = relative.components().all(|c| match c {
        Component::Normal(part) => !part.to_string_lossy().starts_with('.'),
        _ => false,
    });
    plain.then(|| relative.to_path_buf())
}

fn mime(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "ttf" => "font/ttf",
        "woff2" => "font/woff2",
        "txt" | "md" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_bundle() {
        fn check(url: &str, expected: Option<&str>) {
            assert_eq!(relative(url), expected.map(PathBuf::from), "{url}");
        }
        check("/", Some("index.html"));
        check("/lucarne-web_bg.wasm", Some("lucarne-web_bg.wasm"));
        check("/snippets/x/inline0.js", Some("snippets/x/inline0.js"));
        check("/sub/", Some("sub/index.html"));
        check("/../etc/passwd", None);
        check("/a/../../b", None);
        check("/.git/config", None);
        check("//etc/passwd", Some("etc/passwd"));
    }

    #[tokio::test]
    async fn links_out_of_the_directory_are_not_followed() {
        let outside = tempfile::tempdir().expect("tempdir");
        std::fs::write(outside.path().join("secret.txt"), "secret").expect("write");
        let dir = outside.path().join("dist");
        std::fs::create_dir(&dir).expect("mkdir");
        std::fs::write(dir.join("index.html"), "<p>app</p>").expect("write");
        std::fs::write(dir.join("real.txt"), "inside").expect("write");
        std::os::unix::fs::symlink("../secret.txt", dir.join("secret.txt")).expect("link");
        std::os::unix::fs::symlink("real.txt", dir.join("alias.txt")).expect("link");
        std::os::unix::fs::symlink("..", dir.join("up")).expect("link");
        let state = Arc::new(Some(dir));
        let check = async |path: &str, expected: Option<&str>| {
            let uri = path.parse().expect("uri");
            let response =
                serve(axum::extract::State(state.clone()), Method::GET, uri, HeaderMap::new()).await;
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.expect("body");
            let got = (status == StatusCode::OK).then(|| String::from_utf8_lossy(&body).into_owned());
            assert_eq!(got.as_deref(), expected, "{path}");
        };
        check("/", Some("<p>app</p>")).await;
        check("/alias.txt", Some("inside")).await;
        check("/secret.txt", None).await;
        check("/up/secret.txt", None).await;
    }

    #[test]
    fn types() {
        assert_eq!(mime(Path::new("x_bg.wasm")), "application/wasm");
        assert_eq!(mime(Path::new("x.js")), "text/javascript; charset=utf-8");
        assert_eq!(mime(Path::new("index.html")), "text/html; charset=utf-8");
    }
}
