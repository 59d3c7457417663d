//! Table tests over fixture pages in `testdata/listings/`, copied in the
//! shape each server writes them.

use super::*;

const PAGE: &str = "http://media.example/Show/Season%201/";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/testdata/listings/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn url(s: &str) -> Url {
    Url::parse(s).unwrap()
}

fn names(listing: &Listing) -> Vec<&str> {
    listing.entries.iter().map(|e| e.name.as_str()).collect()
}

#[test]
fn every_directory_listing_gives_the_season_in_natural_order_with_subtitles() {
    let cases = [
        ("apache.html", Some("text/html;charset=UTF-8"), Format::Html),
        ("lighttpd.html", Some("text/html; charset=utf-8"), Format::Html),
        ("caddy.html", Some("text/html; charset=utf-8"), Format::Html),
        ("nginx.html", Some("text/html"), Format::Html),
        ("python.html", Some("text/html; charset=utf-8"), Format::Html),
        ("nginx.json", Some("application/json"), Format::NginxJson),
    ];
    for (file, content_type, format) in cases {
        let body = fixture(file);
        let page = url(PAGE);
        assert_eq!(detect(&page, content_type, &body), Ok(format), "{file}");
        let listing = parse(format, &page, &body).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_season(file, &listing);
    }
    let listing = parse(Format::WebDav, &url(PAGE), &fixture("webdav.xml")).unwrap();
    assert_season("webdav.xml", &listing);
}

fn assert_season(file: &str, listing: &Listing) {
    assert_eq!(
        names(listing),
        [
            "Show S01E01.mkv",
            "Show S01E02.mkv",
            "Show S01E03.mkv",
            "Show S01E10.mkv"
        ],
        "{file}"
    );
    let e = &listing.entries;
    assert_eq!(e[0].url, format!("{PAGE}Show%20S01E01.mkv"), "{file}");
    assert_eq!(e[0].subtitles, [format!("{PAGE}Show%20S01E01.srt")], "{file}");
    assert_eq!(e[1].subtitles, [format!("{PAGE}Show%20S01E02.en.srt")], "{file}");
    assert!(e[2].subtitles.is_empty() && e[3].subtitles.is_empty(), "{file}");
    assert_eq!(listing.folders, 1, "{file}: Extras/");
    assert_eq!(listing.dropped, 0, "{file}");
    assert_eq!(listing.name, "Season 1", "{file}");
}

#[test]
fn links_outside_the_folder_or_to_other_hosts_are_reported_not_taken() {
    let listing = parse(Format::Html, &url(PAGE), &fixture("apache.html")).unwrap();
    let skipped: Vec<_> = listing
        .skipped
        .iter()
        .map(|s| (s.link.as_str(), s.reason))
        .collect();
    assert_eq!(
        skipped,
        [
            ("http://other.example/Show%20S01E04.mkv", SkipReason::OtherHost),
            ("/elsewhere/Other.mkv", SkipReason::OutsideFolder),
        ]
    );
}

#[test]
fn what_each_link_of_a_listing_is() {
    let page = url(PAGE);
    let folder = folder_of(&page);
    let in_folder = |rest: &str| LinkKind::File(url(&format!("{PAGE}{rest}")));
    // (format, href, kind)
    let table = [
        (Format::Html, "E1.mkv", in_folder("E1.mkv")),
        (Format::Html, "E1.mkv#t=10", in_folder("E1.mkv")),
        (Format::Html, "E1.mkv?dl=1", in_folder("E1.mkv?dl=1")),
        (
            Format::Html,
            "Extras/",
            LinkKind::Folder(url(&format!("{PAGE}Extras/"))),
        ),
        (Format::Html, "?C=N;O=D", LinkKind::Navigation),
        (Format::Html, ".", LinkKind::Navigation),
        (Format::Html, "../", LinkKind::Navigation),
        (Format::Html, "/", LinkKind::Navigation),
        (
            Format::Html,
            "/Show/Other/E1.mkv",
            LinkKind::Skipped(SkipReason::OutsideFolder),
        ),
        (
            Format::Html,
            "https://media.example/Show/Season%201/E1.mkv",
            LinkKind::Skipped(SkipReason::OtherHost),
        ),
        (
            Format::Html,
            "http://other.example/E1.mkv",
            LinkKind::Skipped(SkipReason::OtherHost),
        ),
        (
            Format::Html,
            "mailto:someone@media.example",
            LinkKind::Skipped(SkipReason::NotHttp),
        ),
        (
            Format::Html,
            "file:///etc/passwd",
            LinkKind::Skipped(SkipReason::NotHttp),
        ),
        (Format::WebDav, "/Show/Season%201/E1.mkv", in_folder("E1.mkv")),
        (
            Format::NginxJson,
            "javascript:alert(1)",
            LinkKind::Skipped(SkipReason::NotHttp),
        ),
        // A playlist may point anywhere on the web, but only to http(s).
        (
            Format::M3u,
            "http://other.example/a.mp4",
            LinkKind::File(url("http://other.example/a.mp4")),
        ),
        (
            Format::M3u,
            "../up.mp4",
            LinkKind::File(url("http://media.example/Show/up.mp4")),
        ),
        (
            Format::Pls,
            "file:///home/me/a.mp4",
            LinkKind::Skipped(SkipReason::NotHttp),
        ),
        (Format::Pls, "http://[::1", LinkKind::Skipped(SkipReason::NotHttp)),
    ];
    for (format, href, kind) in table {
        assert_eq!(judge(format, &page, &folder, href), kind, "{format:?} {href:?}");
    }
}

#[test]
fn a_listing_that_links_to_itself_and_its_parents_gives_only_its_files() {
    let html = r#"<a href="">self</a><a href=".">dot</a><a href="?C=M;O=A">sort</a>
        <a href="/Show/Season%201/">abs self</a><a href="/">root</a><a href="../">up</a>
        <a href="E1.mp4">E1</a><a href="E1.mp4#t=10">E1 again</a>"#;
    let listing = parse(Format::Html, &url(PAGE), html.as_bytes()).unwrap();
    assert_eq!(names(&listing), ["E1.mp4"]);
    assert!(listing.skipped.is_empty(), "{:?}", listing.skipped);
}

#[test]
fn ten_thousand_entries_are_bounded_and_the_rest_reported() {
    let html: String = (1..=10_000)
        .map(|i| format!("<a href=\"E{i}.mp4\">E{i}</a>\n"))
        .collect();
    let listing = parse(Format::Html, &url(PAGE), html.as_bytes()).unwrap();
    assert_eq!(listing.entries.len(), MAX_MEDIA);
    assert_eq!(listing.dropped, 10_000 - MAX_MEDIA);
    assert_eq!(
        listing.entries[999].name, "E1000.mp4",
        "the first thousand in natural order"
    );
}

#[test]
fn an_m3u_keeps_its_order_and_titles_and_refuses_file_entries() {
    let page = url("http://media.example/Show/Season%201/season.m3u");
    let body = fixture("season.m3u");
    assert_eq!(detect(&page, Some("audio/x-mpegurl"), &body), Ok(Format::M3u));
    let listing = parse(Format::M3u, &page, &body).unwrap();
    assert_eq!(
        names(&listing),
        ["Show S01E01.mkv", "Show S01E02.mkv", "Show S01E10.mkv"]
    );
    assert_eq!(listing.entries[0].title.as_deref(), Some("Show - Pilot"));
    assert_eq!(
        listing.entries[2].url, "https://cdn.example/Show%20S01E10.mkv",
        "playlists may name other hosts"
    );
    assert_eq!(listing.entries[0].subtitles, [format!("{PAGE}Show%20S01E01.srt")]);
    assert_eq!(listing.name, "season");
    assert_eq!(
        listing.skipped,
        [Skipped {
            link: "file:///home/someone/Show%20S01E03.mkv".into(),
            reason: SkipReason::NotHttp
        }]
    );
}

#[test]
fn an_hls_playlist_is_not_supported_yet() {
    let page = url("http://media.example/live/index.m3u8");
    let body = fixture("hls.m3u8");
    assert_eq!(
        detect(&page, Some("application/vnd.apple.mpegurl"), &body),
        Ok(Format::M3u)
    );
    let err = parse(Format::M3u, &page, &body).unwrap_err();
    assert_eq!(err, ListingError::Hls);
    assert!(err.to_string().contains("not supported yet"), "{err}");
}

#[test]
fn a_pls_is_read_in_entry_order_without_file_entries() {
    let page = url("http://media.example/season.pls");
    let body = fixture("season.pls");
    assert_eq!(detect(&page, Some("text/plain"), &body), Ok(Format::Pls));
    let listing = parse(Format::Pls, &page, &body).unwrap();
    assert_eq!(names(&listing), ["Show S01E01.mkv", "Show S01E02.mkv"]);
    assert_eq!(listing.entries[0].title.as_deref(), Some("Pilot"));
    assert_eq!(listing.skipped.len(), 1);
    assert_eq!(listing.skipped[0].reason, SkipReason::NotHttp);
}

#[test]
fn webdav_207_with_malformed_xml_is_a_clear_error() {
    let cases: [&[u8]; 4] = [
        &fixture("webdav-malformed.xml"),
        b"<D:multistatus xmlns:D=\"DAV:\"><D:response><D:href>/a.mkv</D:href>",
        b"not xml at all",
        b"<html><body>oops</body></html>",
    ];
    for body in cases {
        let err = parse(Format::WebDav, &url(PAGE), body).unwrap_err();
        assert!(matches!(err, ListingError::MalformedXml(_)), "{err:?}");
        assert!(err.to_string().contains("malformed XML"), "{err}");
    }
}

#[test]
fn pages_that_are_not_listings_are_named_by_their_type() {
    let err = detect(&url("http://h/video"), Some("video/mp4"), b"\0\0\0 ftyp").unwrap_err();
    assert_eq!(
        err.to_string(),
        "not a directory listing or playlist (Content-Type video/mp4)"
    );
    let err = parse(Format::Html, &url(PAGE), b"<p>nothing here</p>").unwrap_err();
    assert_eq!(err, ListingError::NoMedia);
    assert!(matches!(
        parse(Format::NginxJson, &url(PAGE), b"{\"not\": \"a list\"}"),
        Err(ListingError::MalformedJson(_))
    ));
}

#[test]
fn which_urls_look_like_listings() {
    let cases = [
        ("http://h/Show/", true),
        ("http://h/Show", true),
        ("http://h/list.m3u", true),
        ("http://h/list.M3U8", true),
        ("http://h/radio.pls", true),
        ("http://h/Show/E1.mkv", false),
        ("http://h/a.mp4?x=/", false),
    ];
    for (u, want) in cases {
        assert_eq!(looks_like_listing(&url(u)), want, "{u}");
    }
}
