//! Directory listings and playlists: which media files a page names.
//!
//! A page is parsed by its format ([`html`], [`nginx_json`], [`webdav`],
//! [`playlist`]) into raw links; [`collect`] then decides, without I/O,
//! which of them are media entries: resolved against the page URL, kept
//! inside the listed folder and on its host (playlists may name any http(s)
//! URL), subtitles paired with their video by stem, put in natural order
//! (playlists keep theirs) and bounded. The fetch that feeds it is
//! [`fetch`].

pub(crate) mod fetch;
mod html;
pub mod natural;
mod nginx_json;
mod playlist;
pub mod tree;
mod webdav;

use std::collections::HashSet;

use reqwest::Url;
use serde::{Deserialize, Serialize};

pub use crate::config::{MAX_LISTING_MEDIA as MAX_MEDIA, MAX_LISTING_PAGE as MAX_PAGE};
pub use crate::error::ListingError;

/// The formats a listing can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// An HTML autoindex page (nginx, Apache, lighttpd, Caddy, Python's
    /// `http.server`, …).
    Html,
    /// nginx `autoindex_format json`.
    NginxJson,
    /// A WebDAV `PROPFIND` (Depth 1) answer.
    WebDav,
    /// A plain `.m3u` / `.m3u8` media playlist.
    M3u,
    /// A `.pls` playlist.
    Pls,
}

impl Format {
    fn is_playlist(self) -> bool {
        matches!(self, Format::M3u | Format::Pls)
    }
}

/// A link as the page gives it (relative or absolute), with the playlist's
/// title for it if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub href: String,
    pub title: Option<String>,
}

impl Link {
    fn new(href: impl Into<String>) -> Link {
        Link {
            href: href.into(),
            title: None,
        }
    }
}

/// One media file of a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub url: String,
    /// The file name (the URL's last path segment, decoded).
    pub name: String,
    /// The playlist's title for it (`#EXTINF`, `TitleN`).
    pub title: Option<String>,
    /// URLs of the subtitle files paired with it.
    pub subtitles: Vec<String>,
}

/// Why a link was left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// It points to another host than the listing's.
    OtherHost,
    /// It points outside the listed folder.
    OutsideFolder,
    /// Not an http or https URL (`file:`, `ftp:`, …), or a relative entry of
    /// a playlist read from a local file.
    NotHttp,
}

impl SkipReason {
    pub fn describe(self) -> &'static str {
        match self {
            SkipReason::OtherHost => "points to another host",
            SkipReason::OutsideFolder => "points outside the listed folder",
            SkipReason::NotHttp => "is not an http(s) URL",
        }
    }
}

/// A link left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    pub link: String,
    pub reason: SkipReason,
}

/// What a listing names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    pub format: Format,
    /// The page's URL (after redirects).
    pub url: String,
    /// A name for the collection: the folder's or the playlist's.
    pub name: String,
    /// Media entries in order, at most [`MAX_MEDIA`].
    pub entries: Vec<Entry>,
    /// Links left out, with the reason.
    pub skipped: Vec<Skipped>,
    /// Media entries beyond [`MAX_MEDIA`], not taken.
    pub dropped: usize,
    /// Sub-folders named by the listing and not followed.
    pub folders: usize,
    /// The sub-folders' URLs, in natural order (see [`tree`]).
    #[serde(default)]
    pub subfolders: Vec<String>,
    /// Sub-folders followed (read as listings of their own; see [`tree`]).
    #[serde(default)]
    pub followed: usize,
}

/// Video and audio file extensions (lowercase) a directory listing's media
/// entries have.
const MEDIA: &[&str] = &[
    "mkv", "mp4", "m4v", "avi", "mov", "webm", "wmv", "flv", "mpg", "mpeg", "ts", "m2ts", "ogv", "3gp",
    "mp3", "m4a", "m4b", "aac", "flac", "ogg", "oga", "opus", "wav", "wma", "mka",
];
/// Subtitle file extensions (lowercase).
pub const SUBTITLES: &[&str] = &["srt", "ass", "ssa", "vtt", "sub"];

/// The format of a page from its URL, `Content-Type` and first bytes; a
/// page in none of them is [`ListingError::NotAListing`].
pub fn detect(url: &Url, content_type: Option<&str>, body: &[u8]) -> Result<Format, ListingError> {
    let mime = content_type
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let ext = extension(url.path()).unwrap_or_default();
    let start = String::from_utf8_lossy(&body[..body.len().min(512)]);
    let start = start.trim_start_matches('\u{feff}').trim_start();
    if start.starts_with("#EXTM3U") || mime.contains("mpegurl") || ext == "m3u" || ext == "m3u8" {
        return Ok(Format::M3u);
    }
    if start.to_ascii_lowercase().starts_with("[playlist]") || mime == "audio/x-scpls" || ext == "pls" {
        return Ok(Format::Pls);
    }
    if mime == "application/json" || (mime.is_empty() && start.starts_with('[')) {
        return Ok(Format::NginxJson);
    }
    if mime == "text/html"
        || mime == "application/xhtml+xml"
        || start.to_ascii_lowercase().starts_with("<!doctype html")
    {
        return Ok(Format::Html);
    }
    let what = if mime.is_empty() {
        "no Content-Type".to_string()
    } else {
        format!("Content-Type {mime}")
    };
    Err(ListingError::NotAListing(what))
}

impl Listing {
    /// Keeps at most `max` media entries (a lower bound than
    /// [`MAX_MEDIA`], set by the engine's configuration); the rest count as
    /// dropped.
    pub fn bound(mut self, max: usize) -> Listing {
        if self.entries.len() > max {
            self.dropped += self.entries.len() - max;
            self.entries.truncate(max);
        }
        self
    }
}

/// Parses a page of `format` fetched from `url` into its listing.
pub fn parse(format: Format, url: &Url, body: &[u8]) -> Result<Listing, ListingError> {
    let text = String::from_utf8_lossy(body);
    let links = match format {
        Format::Html => html::links(&text),
        Format::NginxJson => nginx_json::links(&text)?,
        Format::WebDav => webdav::links(&text)?,
        Format::M3u => playlist::m3u(&text)?,
        Format::Pls => playlist::pls(&text),
    };
    collect(format, url, links)
}

/// Decides which links are media entries (see the module doc).
pub fn collect(format: Format, page: &Url, links: Vec<Link>) -> Result<Listing, ListingError> {
    let folder = folder_of(page);
    let mut seen = HashSet::new();
    let mut skipped = Vec::new();
    let mut subfolders: Vec<String> = Vec::new();
    let mut files: Vec<(Url, Option<String>)> = Vec::new();
    for link in links {
        let href = link.href.trim();
        if href.is_empty() || href.starts_with('#') {
            continue;
        }
        match judge(format, page, &folder, href) {
            LinkKind::Navigation => {}
            LinkKind::Skipped(reason) => skipped.push(Skipped {
                link: href.to_string(),
                reason,
            }),
            LinkKind::Folder(url) => {
                if seen.insert(url.to_string()) {
                    subfolders.push(url.to_string());
                }
            }
            LinkKind::File(url) => {
                if seen.insert(url.to_string()) {
                    files.push((url, link.title));
                }
            }
        }
    }
    let mut entries = media_of(format, files);
    // Sub-folders alone are for the caller to follow, or to refuse with
    // [`ListingError::OnlyFolders`].
    if entries.is_empty() && subfolders.is_empty() {
        return Err(ListingError::NoMedia);
    }
    subfolders.sort_by(|a, b| natural::compare(a, b));
    let dropped = entries.len().saturating_sub(MAX_MEDIA);
    entries.truncate(MAX_MEDIA);
    Ok(Listing {
        format,
        url: page.to_string(),
        name: listing_name(format, page),
        entries,
        skipped,
        dropped,
        folders: subfolders.len(),
        subfolders,
        followed: 0,
    })
}

/// What one link of a listing is.
#[derive(Debug, PartialEq)]
enum LinkKind {
    /// The folder itself (a sort link like `?C=N;O=D`, a self link) or a
    /// parent: navigation, not content.
    Navigation,
    Skipped(SkipReason),
    /// A sub-folder of a directory listing.
    Folder(Url),
    /// A file: media, a subtitle, or neither (its name decides later).
    File(Url),
}

/// Judges `href`, a link on `page` (whose folder is `folder`). A playlist
/// may point anywhere on the web; a directory listing only below itself.
fn judge(format: Format, page: &Url, folder: &Url, href: &str) -> LinkKind {
    let Ok(mut url) = page.join(href) else {
        return LinkKind::Skipped(SkipReason::NotHttp);
    };
    url.set_fragment(None);
    if !matches!(url.scheme(), "http" | "https") {
        return LinkKind::Skipped(SkipReason::NotHttp);
    }
    if format.is_playlist() {
        return LinkKind::File(url);
    }
    if url.origin() != page.origin() {
        return LinkKind::Skipped(SkipReason::OtherHost);
    }
    let path = url.path();
    if folder.path().starts_with(path) {
        return LinkKind::Navigation;
    }
    if !path.starts_with(folder.path()) {
        return LinkKind::Skipped(SkipReason::OutsideFolder);
    }
    if path.ends_with('/') {
        LinkKind::Folder(url)
    } else {
        LinkKind::File(url)
    }
}

/// The media among `files`, each with its subtitles: a subtitle goes with
/// the video of the same stem; the rest are media if the listing is a
/// playlist (in its order) or their extension says so (in natural order).
fn media_of(format: Format, files: Vec<(Url, Option<String>)>) -> Vec<Entry> {
    let mut subtitles = Vec::new();
    let mut media = Vec::new();
    for (url, title) in files {
        let name = file_name(&url);
        let ext = extension(&name).unwrap_or_default();
        if SUBTITLES.contains(&ext.as_str()) {
            subtitles.push((url, name));
        } else if format.is_playlist() || MEDIA.contains(&ext.as_str()) {
            media.push(Entry {
                url: url.to_string(),
                name,
                title,
                subtitles: Vec::new(),
            });
        }
    }
    if !format.is_playlist() {
        media.sort_by(|a, b| natural::compare(&a.name, &b.name));
        subtitles.sort_by(|a, b| natural::compare(&a.1, &b.1));
    }
    for (url, name) in subtitles {
        let sub_stem = stem(&name);
        // `Name.srt` pairs with `Name.mkv`; `Name.en.srt` too.
        let lang_less = sub_stem.rsplit_once('.').map(|(s, _)| s);
        let target = media
            .iter()
            .position(|m| stem(&m.name) == sub_stem)
            .or_else(|| lang_less.and_then(|s| media.iter().position(|m| stem(&m.name) == s)));
        if let Some(i) = target {
            media[i].subtitles.push(url.to_string());
        }
    }
    media
}

/// The folder a page lists: the page URL up to its last `/`, no query.
fn folder_of(page: &Url) -> Url {
    let mut folder = page.clone();
    folder.set_query(None);
    folder.set_fragment(None);
    let path = folder.path().to_string();
    let cut = path.rfind('/').map_or(0, |i| i + 1);
    folder.set_path(&path[..cut]);
    folder
}

/// The collection's name: the folder's last segment, or the playlist's
/// file name without its extension.
fn listing_name(format: Format, page: &Url) -> String {
    let segment = if format.is_playlist() {
        stem(&file_name(page)).to_string()
    } else {
        let folder = folder_of(page);
        let segment = folder
            .path()
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default();
        crate::name::display_name(None, &format!("http://x/{segment}"))
    };
    if segment.is_empty() || segment == "media" {
        page.host_str().unwrap_or("listing").to_string()
    } else {
        segment
    }
}

fn file_name(url: &Url) -> String {
    let segment = url.path().rsplit('/').next().unwrap_or_default();
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

/// The lowercase extension of a name or path, if it has one.
pub fn extension(name: &str) -> Option<String> {
    let last = name.rsplit('/').next().unwrap_or(name);
    let (stem, ext) = last.rsplit_once('.')?;
    (!stem.is_empty() && !ext.is_empty()).then(|| ext.to_ascii_lowercase())
}

fn stem(name: &str) -> &str {
    name.rsplit_once('.').map_or(name, |(s, _)| s)
}

/// Whether a URL looks like a listing rather than a media file: a folder
/// (`/` at the end, or a last segment without an extension) or a playlist.
pub fn looks_like_listing(url: &Url) -> bool {
    let path = url.path();
    if path.ends_with('/') {
        return true;
    }
    match extension(path) {
        None => true,
        Some(ext) => matches!(ext.as_str(), "m3u" | "m3u8" | "pls"),
    }
}

#[cfg(test)]
mod tests;
