//! WebDAV `PROPFIND` (Depth 1) answers: a `multistatus` of `response`s,
//! each an `href` and, for a folder, a `resourcetype` holding `collection`.
//! Namespace prefixes vary by server, so elements are matched by local
//! name. Any XML error, or a document that is not a complete multistatus,
//! is [`ListingError::MalformedXml`].

use quick_xml::events::Event;
use quick_xml::Reader;

use super::{Link, ListingError};

pub(super) fn links(xml: &str) -> Result<Vec<Link>, ListingError> {
    let malformed = |what: String| ListingError::MalformedXml(what);
    let mut reader = Reader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    let mut links = Vec::new();
    let mut saw_root = false;
    let mut href = String::new();
    let mut is_folder = false;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| malformed(format!("at byte {}: {e}", reader.buffer_position())))?;
        match event {
            Event::Start(e) => {
                let name = local(e.local_name().as_ref());
                if path.is_empty() {
                    if name != "multistatus" {
                        return Err(malformed(format!(
                            "the root element is <{name}>, not <multistatus>"
                        )));
                    }
                    saw_root = true;
                }
                if name == "response" {
                    href.clear();
                    is_folder = false;
                }
                if name == "collection" && path.last().is_some_and(|p| p == "resourcetype") {
                    is_folder = true;
                }
                path.push(name);
            }
            Event::Empty(e) => {
                let name = local(e.local_name().as_ref());
                if path.is_empty() {
                    return Err(malformed(format!("the root element is an empty <{name}/>")));
                }
                if name == "collection" && path.last().is_some_and(|p| p == "resourcetype") {
                    is_folder = true;
                }
            }
            Event::End(_) if path.pop().as_deref() == Some("response") => {
                let mut h = href.trim().to_string();
                if is_folder && !h.ends_with('/') {
                    h.push('/');
                }
                if !h.is_empty() {
                    links.push(Link::new(h));
                }
            }
            Event::End(_) => {}
            Event::Text(t) if path.last().is_some_and(|p| p == "href") => {
                href.push_str(&t.xml_content(quick_xml::XmlVersion::Implicit1_0));
            }
            Event::GeneralRef(r) if path.last().is_some_and(|p| p == "href") => {
                let name = r.into_inner();
                let c = match name.as_ref() {
                    "amp" => Some('&'),
                    "lt" => Some('<'),
                    "gt" => Some('>'),
                    "quot" => Some('"'),
                    "apos" => Some('\''),
                    n => n
                        .strip_prefix("#x")
                        .map(|h| u32::from_str_radix(h, 16))
                        .or_else(|| n.strip_prefix('#').map(str::parse))
                        .and_then(Result::ok)
                        .and_then(char::from_u32),
                };
                let c = c.ok_or_else(|| malformed(format!("unknown entity &{name};")))?;
                href.push(c);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !saw_root {
        return Err(malformed("no <multistatus> element".into()));
    }
    if !path.is_empty() {
        return Err(malformed(format!(
            "the document ends inside <{}>",
            path.join("><")
        )));
    }
    Ok(links)
}

fn local(name: &str) -> String {
    name.to_ascii_lowercase()
}
