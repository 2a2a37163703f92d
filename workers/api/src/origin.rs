//! The origin clients reach this Worker at: absolute media URLs are made with it, and a
//! signed-in change must come from it.

use worker::Request;

/// The origin clients reach this Worker at (`https://host[:port]`). Sliced from the
/// runtime's already-normalised URL: parsing it with the `url` crate would add its IDNA
/// tables, over 100 KiB, to the wasm.
pub fn origin(req: &Request) -> String {
    let url = req.inner().url();
    let host_start = url.find("://").map_or(0, |i| i + 3);
    let end = url[host_start..]
        .find('/')
        .map_or(url.len(), |i| host_start + i);
    url[..end].to_owned()
}
