//! Fetching a listing: a folder is asked with WebDAV `PROPFIND` (Depth 1)
//! first; a server without WebDAV refuses it (405, 501, …) and the page is
//! then read with `GET`. Either body is read up to [`MAX_PAGE`] bytes; the
//! `Content-Type` is looked at before any of the body is read, so a media
//! file at a URL without an extension is left unread
//! ([`ListingError::NotAListing`]).

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::{header, Method, StatusCode, Url};

use super::{detect, parse, Format, Listing, ListingError, MAX_PAGE};
use crate::download::origin::{self, FetchError};
use crate::error::{Error, Result};

/// Asks for the folder's members and nothing else (RFC 4918 §9.1).
const PROPFIND_BODY: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/></D:prop></D:propfind>"#;

/// Reads the listing at `url` with `headers` (the item request headers the
/// user gave: the listing may need the same credentials).
pub(crate) async fn fetch(
    client: &reqwest::Client,
    url: &Url,
    headers: &[(String, String)],
    timeout: Duration,
) -> Result<Listing> {
    if url.path().ends_with('/') || super::extension(url.path()).is_none() {
        let propfind =
            Method::from_bytes(b"PROPFIND").map_err(|e| Error::io("PROPFIND", std::io::Error::other(e)))?;
        let request = origin::with_headers(client.request(propfind, url.clone()), headers)
            .header("Depth", "1")
            .header(header::CONTENT_TYPE, "application/xml; charset=utf-8")
            .timeout(timeout)
            .body(PROPFIND_BODY);
        match request.send().await {
            Ok(response) if response.status() == StatusCode::MULTI_STATUS => {
                let page = response.url().clone();
                let body = read_bounded(response, timeout).await?;
                return Ok(parse(Format::WebDav, &page, &body)?);
            }
            // Not WebDAV (405, 501, a plain page…): read it as a page.
            Ok(_) => {}
            Err(e) => return Err(origin::classify_error(&e).into()),
        }
    }
    let response = origin::with_headers(client.get(url.clone()), headers)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| Error::from(origin::classify_error(&e)))?;
    let response = origin::check_status(response).map_err(Error::from)?;
    let page = response.url().clone();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    // Decide from the headers alone where they suffice: a video is never read.
    if let Err(e) = detect(&page, content_type.as_deref(), b"") {
        if content_type.is_some() {
            return Err(e.into());
        }
    }
    let body = read_bounded(response, timeout).await?;
    let format = detect(&page, content_type.as_deref(), &body)?;
    Ok(parse(format, &page, &body)?)
}

/// The body, or [`ListingError::TooLarge`] past [`MAX_PAGE`] bytes.
async fn read_bounded(response: reqwest::Response, timeout: Duration) -> Result<Vec<u8>> {
    if response.content_length().is_some_and(|n| n > MAX_PAGE as u64) {
        return Err(ListingError::TooLarge.into());
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    loop {
        let chunk = tokio::time::timeout(timeout, stream.next())
            .await
            .map_err(|_| Error::from(FetchError::transient("the listing stopped arriving")))?;
        match chunk {
            None => return Ok(body),
            Some(Ok(bytes)) => {
                if body.len() + bytes.len() > MAX_PAGE {
                    return Err(ListingError::TooLarge.into());
                }
                body.extend_from_slice(&bytes);
            }
            Some(Err(e)) => return Err(origin::classify_error(&e).into()),
        }
    }
}
