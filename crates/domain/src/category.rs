//! The category sent with a product view (connector.md §5).
//!
//! From category ids: the last five ids of the product's list (the most specific), their
//! names joined with ` / ` in list order. Without category names: the product URL's path
//! segments except the last (the product's own slug), de-slugified. Either way capped at
//! [`CategoryPath::MAX_CHARS`] characters.
//!
//! "Characters" are Unicode scalar values (Rust `char`s), never bytes, so a cut never
//! splits a UTF-8 sequence. They are not grapheme clusters: a cut may separate an emoji
//! from a following modifier, which still leaves valid text.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Separator between category names.
pub const SEPARATOR: &str = " / ";

/// How many trailing category ids count.
pub const MAX_CATEGORY_IDS: usize = 5;

/// A category path such as `Clothing / Knitwear`: non-empty, at most 255 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CategoryPath(String);

/// The text is not a usable category path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CategoryError {
    /// Empty or whitespace only.
    #[error("category path is empty")]
    Empty,
    /// Longer than [`CategoryPath::MAX_CHARS`] characters.
    #[error("category path is longer than {} characters", CategoryPath::MAX_CHARS)]
    TooLong,
}

impl CategoryPath {
    /// Maximum length in characters (`char`s).
    pub const MAX_CHARS: usize = 255;

    /// Parses an existing path (for example from a cache), trimmed; over-long input is an
    /// error, not cut.
    pub fn parse(s: &str) -> Result<Self, CategoryError> {
        let s = s.trim();
        if s.is_empty() {
            Err(CategoryError::Empty)
        } else if s.chars().count() > Self::MAX_CHARS {
            Err(CategoryError::TooLong)
        } else {
            Ok(Self(s.to_owned()))
        }
    }

    /// Builds a path from joined text, cutting it at [`Self::MAX_CHARS`] characters.
    /// After a cut, trailing whitespace and `/` are trimmed so that the path never ends
    /// in a dangling separator.
    fn capped(text: &str) -> Option<Self> {
        let mut text = text.trim();
        if let Some((cut, _)) = text.char_indices().nth(Self::MAX_CHARS) {
            text = text[..cut].trim_end_matches(|c: char| c.is_whitespace() || c == '/');
        }
        (!text.is_empty()).then(|| Self(text.to_owned()))
    }

    /// The path as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CategoryPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for CategoryPath {
    type Error = CategoryError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<CategoryPath> for String {
    fn from(value: CategoryPath) -> Self {
        value.0
    }
}

/// The last five ids of a product's category list (all of them when there are fewer).
pub fn last_five(ids: &[u64]) -> &[u64] {
    &ids[ids.len().saturating_sub(MAX_CATEGORY_IDS)..]
}

/// The category path from the product's category ids.
///
/// Takes [`last_five`] of `ids`, looks up each name with `names` (unknown ids and blank
/// names are skipped: a deleted category must not hide the others), joins them with
/// ` / ` in list order and caps the result. `None` when no name was found.
pub fn category_from_ids<'n>(
    ids: &[u64],
    names: impl Fn(u64) -> Option<&'n str>,
) -> Option<CategoryPath> {
    let joined = last_five(ids)
        .iter()
        .filter_map(|id| names(*id))
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .collect::<Vec<_>>()
        .join(SEPARATOR);
    CategoryPath::capped(&joined)
}

/// Decodes `%XX` escapes when the result is valid UTF-8; otherwise keeps the text as is.
fn percent_decode(segment: &str) -> String {
    if !segment.contains('%') {
        return segment.to_owned();
    }
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| segment.to_owned())
}

/// The category path from a product URL path such as
/// `/accessories/socks_and-tights/merino-socks/` → `accessories / socks and tights`.
///
/// All segments but the last (the product slug), `-` and `_` turned into spaces, runs of
/// whitespace collapsed, `%XX` escapes decoded, joined with ` / `. Empty segments, a query
/// string and a fragment are ignored; a full `http(s)://host/...` URL is reduced to its
/// path. One segment (or none) gives `None`.
pub fn category_from_url(path: &str) -> Option<CategoryPath> {
    let mut path = path.trim();
    if let Some(end) = path.find(['?', '#']) {
        path = &path[..end];
    }
    if let Some((_, rest)) = path.split_once("://") {
        path = rest.find('/').map_or("", |slash| &rest[slash..]);
    }
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let (_, parents) = segments.split_last()?;
    let joined = parents
        .iter()
        .map(|segment| {
            percent_decode(segment)
                .replace(['-', '_'], " ")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|segment| !segment.is_empty())
        .collect::<Vec<_>>()
        .join(SEPARATOR);
    CategoryPath::capped(&joined)
}

/// The product's category: from its category ids when any name resolves, else from its
/// URL path.
pub fn product_category<'n>(
    ids: &[u64],
    names: impl Fn(u64) -> Option<&'n str>,
    url: Option<&str>,
) -> Option<CategoryPath> {
    category_from_ids(ids, names).or_else(|| url.and_then(category_from_url))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::bigcommerce::{CatalogProduct, Category, V3Response};

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../fixtures/bigcommerce/api/",
                $name
            ))
        };
    }

    fn fixture_names() -> HashMap<u64, String> {
        let categories: V3Response<Vec<Category>> =
            serde_json::from_str(fixture!("v3_catalog_categories.json")).unwrap();
        categories
            .data
            .into_iter()
            .map(|c| (c.id, c.name))
            .collect()
    }

    #[test]
    fn product_77_gets_its_last_five_category_names() {
        let product: V3Response<CatalogProduct> =
            serde_json::from_str(fixture!("v3_catalog_products_77.json")).unwrap();
        let names = fixture_names();
        let path = product_category(
            &product.data.categories,
            |id| names.get(&id).map(String::as_str),
            product.data.url(),
        )
        .unwrap();
        assert_eq!(
            path.as_str(),
            "Clothing / Knitwear / Cardigans / Wool / Autumn Collection"
        );
    }

    #[test]
    fn product_78_without_categories_falls_back_to_its_url() {
        let product: V3Response<CatalogProduct> =
            serde_json::from_str(fixture!("v3_catalog_products_78_no_categories.json")).unwrap();
        let names = fixture_names();
        let path = product_category(
            &product.data.categories,
            |id| names.get(&id).map(String::as_str),
            product.data.url(),
        )
        .unwrap();
        assert_eq!(path.as_str(), "accessories / socks and tights");
    }

    #[test]
    fn last_five_keeps_the_tail_of_the_list() {
        assert_eq!(
            last_five(&[18, 23, 24, 31, 40, 41, 42]),
            &[24, 31, 40, 41, 42]
        );
        assert_eq!(last_five(&[1, 2]), &[1, 2]);
        assert_eq!(last_five(&[]), &[] as &[u64]);
    }

    #[test]
    fn unknown_category_ids_are_skipped_without_pulling_in_earlier_ones() {
        let names = |id: u64| match id {
            1 => Some("Early"),
            3 => Some("Shoes"),
            6 => Some("Boots"),
            _ => None,
        };
        let path = category_from_ids(&[1, 2, 3, 4, 5, 6], names).unwrap();
        assert_eq!(path.as_str(), "Shoes / Boots");
    }

    #[test]
    fn no_known_names_gives_no_category() {
        assert_eq!(category_from_ids(&[1, 2], |_| None), None);
        assert_eq!(category_from_ids(&[1], |_| Some("  ")), None);
        assert_eq!(category_from_ids(&[], |_| Some("x")), None);
    }

    #[test]
    fn names_with_unknown_ids_fall_back_to_the_url() {
        let path = product_category(&[99], |_| None, Some("/shoes/boots/hiker/")).unwrap();
        assert_eq!(path.as_str(), "shoes / boots");
    }

    #[test]
    fn names_are_kept_in_list_order_not_id_order() {
        let names = |id: u64| Some(if id == 9 { "Nine" } else { "One" });
        assert_eq!(
            category_from_ids(&[9, 1], names).unwrap().as_str(),
            "Nine / One"
        );
    }

    #[test]
    fn long_path_is_cut_at_255_characters() {
        let name = "a".repeat(100);
        let path = category_from_ids(&[1, 2, 3], |_| Some(name.as_str())).unwrap();
        assert_eq!(path.as_str().chars().count(), 255);
        assert!(path.as_str().starts_with(&name));
    }

    #[test]
    fn multibyte_names_are_cut_on_a_character_boundary() {
        // 200 'Ö' (2 bytes each) + " / " + 200 'Ö': the 255th character is an 'Ö', and
        // a byte-based cut at 255 would land inside one.
        let name = "Ö".repeat(200);
        let path = category_from_ids(&[1, 2], |_| Some(name.as_str())).unwrap();
        assert_eq!(path.as_str().chars().count(), 255);
        assert!(path.as_str().ends_with('Ö'));
        assert!(path.as_str().len() > 255);
    }

    #[test]
    fn emoji_crossing_the_boundary_is_kept_whole_or_dropped_whole() {
        // 254 characters then a 4-byte emoji: it is the 255th character, so it stays.
        let kept = format!("{}🧶tail", "a".repeat(254));
        let path = category_from_ids(&[1], |_| Some(kept.as_str())).unwrap();
        assert_eq!(path.as_str(), format!("{}🧶", "a".repeat(254)));
        // 255 characters then the emoji: it is the 256th, so it goes entirely.
        let dropped = format!("{}🧶", "a".repeat(255));
        let path = category_from_ids(&[1], |_| Some(dropped.as_str())).unwrap();
        assert_eq!(path.as_str(), "a".repeat(255));
    }

    #[test]
    fn a_cut_never_leaves_a_dangling_separator() {
        let first = "a".repeat(253);
        let path = category_from_ids(&[1, 2], |id| {
            Some(if id == 1 { first.as_str() } else { "Second" })
        })
        .unwrap();
        assert_eq!(path.as_str(), first);
    }

    #[test]
    fn url_segments_are_de_slugified() {
        assert_eq!(
            category_from_url("/accessories/socks_and-tights/merino-socks/")
                .unwrap()
                .as_str(),
            "accessories / socks and tights"
        );
    }

    #[test]
    fn one_segment_url_gives_no_category() {
        assert_eq!(category_from_url("/merino-socks/"), None);
        assert_eq!(category_from_url("merino-socks"), None);
        assert_eq!(category_from_url("/"), None);
        assert_eq!(category_from_url(""), None);
    }

    #[test]
    fn empty_segments_query_and_fragment_are_ignored() {
        assert_eq!(
            category_from_url("//women//knitwear/cardigan?sku=1#top")
                .unwrap()
                .as_str(),
            "women / knitwear"
        );
        assert_eq!(category_from_url("/cardigan?x=/a/b/c"), None);
    }

    #[test]
    fn full_urls_are_reduced_to_their_path() {
        assert_eq!(
            category_from_url("https://shop.example.com/women/knitwear/wool-cardigan/")
                .unwrap()
                .as_str(),
            "women / knitwear"
        );
        assert_eq!(category_from_url("https://shop.example.com"), None);
    }

    #[test]
    fn percent_escapes_in_url_segments_are_decoded() {
        assert_eq!(
            category_from_url("/kl%C3%A4der/tr%C3%B6jor/ylle/")
                .unwrap()
                .as_str(),
            "kläder / tröjor"
        );
        assert_eq!(
            category_from_url("/bad%FFescape/x/").unwrap().as_str(),
            "bad%FFescape"
        );
    }

    #[test]
    fn slug_separators_collapse_into_single_spaces() {
        assert_eq!(
            category_from_url("/socks--_tights/-/item")
                .unwrap()
                .as_str(),
            "socks tights"
        );
    }

    #[test]
    fn category_path_parse_rejects_empty_and_overlong_text() {
        assert_eq!(CategoryPath::parse(" "), Err(CategoryError::Empty));
        assert_eq!(
            CategoryPath::parse(&"é".repeat(256)),
            Err(CategoryError::TooLong)
        );
        assert_eq!(
            CategoryPath::parse(&"é".repeat(255))
                .unwrap()
                .as_str()
                .chars()
                .count(),
            255
        );
        let path: CategoryPath = serde_json::from_str("\"A / B\"").unwrap();
        assert_eq!(serde_json::to_string(&path).unwrap(), "\"A / B\"");
    }
}
