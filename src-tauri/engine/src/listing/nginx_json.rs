//! nginx `autoindex_format json`: `[{"name", "type", …}]`, names not
//! encoded; `type` is `file`, `directory` or `other`.

use serde::Deserialize;

use super::{Link, ListingError};

#[derive(Deserialize)]
struct Row {
    name: String,
    #[serde(rename = "type", default)]
    kind: String,
}

pub(super) fn links(text: &str) -> Result<Vec<Link>, ListingError> {
    let rows: Vec<Row> =
        serde_json::from_str(text).map_err(|e| ListingError::MalformedJson(e.to_string()))?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let mut href = crate::name::url_segment(&row.name);
            if row.kind == "directory" {
                href.push('/');
            }
            Link::new(href)
        })
        .collect())
}
