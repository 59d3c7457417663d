//! HTML autoindex pages (nginx, Apache, lighttpd, Caddy, Python's
//! `http.server`): every `<a href>` of the page, read with a real HTML5
//! parser (html5ever through `dom_query`), so markup quirks, entities and
//! attribute quoting are handled as a browser would.

use super::Link;

pub(super) fn links(html: &str) -> Vec<Link> {
    let doc = dom_query::Document::from(html);
    doc.select("a[href]")
        .iter()
        .filter_map(|a| a.attr("href").map(|h| Link::new(h.to_string())))
        .collect()
}
