//! User avatars: either bytes a client uploaded (kept with their content type) or a small SVG
//! generated from the user's initials, so GetAvatar always has a non-JSON body to return.

use bytes::Bytes;

use super::pb::{User, google::api::HttpBody};

/// Content type used when an upload did not say what it is.
pub const DEFAULT_CONTENT_TYPE: &str = "application/octet-stream";
/// Content type of generated avatars.
pub const SVG_CONTENT_TYPE: &str = "image/svg+xml";

/// Raw avatar bytes and their media type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Avatar {
    pub content_type: String,
    pub data: Bytes,
}

impl Avatar {
    /// The deterministic placeholder for a user without an uploaded avatar: a coloured circle
    /// with the user's initials. The colour depends on the id, the text on the name.
    pub fn generated_for(user: &User) -> Self {
        let hue = user.user_id.bytes().fold(0u32, |acc, b| {
            acc.wrapping_mul(31).wrapping_add(u32::from(b))
        }) % 360;
        let svg = format!(
            concat!(
                r#"<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">"#,
                r#"<circle cx="32" cy="32" r="32" fill="hsl({hue},55%,45%)"/>"#,
                r##"<text x="32" y="40" font-family="sans-serif" font-size="24" fill="#fff" text-anchor="middle">{text}</text>"##,
                "</svg>"
            ),
            hue = hue,
            text = escape_xml(&initials(&user.name)),
        );
        Self {
            content_type: SVG_CONTENT_TYPE.to_owned(),
            data: Bytes::from(svg),
        }
    }

    /// The `google.api.HttpBody` the gateway turns into a raw HTTP response.
    pub fn into_http_body(self) -> HttpBody {
        HttpBody {
            content_type: self.content_type,
            data: self.data.to_vec(),
            extensions: Vec::new(),
        }
    }
}

/// Up to two uppercase initials from the first two words; `?` when the name has none.
fn initials(name: &str) -> String {
    let letters: String = name
        .split_whitespace()
        .filter_map(|word| word.chars().next())
        .take(2)
        .flat_map(char::to_uppercase)
        .collect();
    if letters.is_empty() {
        "?".to_owned()
    } else {
        letters
    }
}

fn escape_xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initials_table() {
        let cases = [
            ("Ada Lovelace", "AL"),
            ("grace", "G"),
            ("Alan Mathison Turing", "AM"),
            ("  ", "?"),
            ("<b> &c", "<&"),
            ("émile zola", "ÉZ"),
        ];
        for (name, expected) in cases {
            assert_eq!(initials(name), expected, "{name}");
        }
    }

    #[test]
    fn generated_svg_is_escaped_and_deterministic() {
        let user = User {
            user_id: "42".into(),
            name: "<script> &x".into(),
            ..User::default()
        };
        let a = Avatar::generated_for(&user);
        assert_eq!(a, Avatar::generated_for(&user));
        assert_eq!(a.content_type, SVG_CONTENT_TYPE);
        let text = std::str::from_utf8(&a.data).expect("svg is utf-8");
        assert!(text.starts_with("<svg"), "{text}");
        assert!(text.contains(">&lt;&amp;</text>"), "{text}");
        assert!(!text.contains("<script"), "{text}");
    }

    #[test]
    fn into_http_body_keeps_type_and_bytes() {
        let body = Avatar {
            content_type: "image/png".into(),
            data: Bytes::from_static(b"\x89PNG"),
        }
        .into_http_body();
        assert_eq!(body.content_type, "image/png");
        assert_eq!(body.data, b"\x89PNG");
        assert!(body.extensions.is_empty());
    }
}
