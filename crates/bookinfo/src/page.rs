//! The HTML of productpage: the index, the product page and its pieces. Every value that
//! comes from a request or an upstream is escaped.

use serde_json::Value;

/// Shown when details cannot be fetched.
pub const DETAILS_ERROR: &str = "Error fetching product details";
/// Shown when reviews cannot be fetched.
pub const REVIEWS_ERROR: &str = "Error fetching product reviews";

const STYLE: &str = "body{font-family:sans-serif;max-width:56em;margin:2em auto;padding:0 1em}\
    header{display:flex;justify-content:space-between;align-items:center}\
    .error{color:#a40000;font-weight:bold}.stars{font-size:1.3em}.stars.black{color:#000}\
    .stars.red{color:#c00}blockquote{border-left:3px solid #ccc;margin-left:0;padding-left:1em}\
    table td{padding:.2em 1em .2em 0}";

/// The book the page is about.
#[derive(Debug, Clone, Copy)]
pub struct Product {
    pub id: u64,
    pub title: &'static str,
    pub description: &'static str,
}

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn document(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n",
        escape(title)
    )
}

/// The landing page.
pub fn index() -> String {
    document(
        "Bookinfo",
        "<h1>Bookinfo</h1>\n<p>A one-book shop for trying out a service mesh: the product page \
         asks the details and reviews services, and reviews asks ratings.</p>\n\
         <p><a href=\"/productpage\">Open the product page</a>.</p>\n",
    )
}

fn session_box(user: Option<&str>) -> String {
    match user {
        Some(user) => format!(
            "<form method=\"post\" action=\"/logout\">Signed in as <strong class=\"user\">{}</strong> \
             <button type=\"submit\">Sign out</button></form>",
            escape(user)
        ),
        None => "<form method=\"post\" action=\"/login\"><input name=\"user\" placeholder=\"name\" \
                 required> <input name=\"passwd\" type=\"password\" placeholder=\"password (any)\"> \
                 <button type=\"submit\">Sign in</button></form>"
            .to_string(),
    }
}

/// The product page. `details` and `reviews` are the upstreams' JSON, `None` when a call
/// failed.
pub fn product_page(
    product: &Product,
    user: Option<&str>,
    details: Option<&Value>,
    reviews: Option<&Value>,
) -> String {
    let body = format!(
        "<header><h1>{}</h1>{}</header>\n<p>{}</p>\n<section id=\"details\">\n<h2>Book details</h2>\n\
         {}</section>\n<section id=\"reviews\">\n<h2>What readers say</h2>\n{}</section>\n",
        escape(product.title),
        session_box(user),
        escape(product.description),
        details.map_or_else(|| error_box(DETAILS_ERROR, "details"), details_table),
        reviews.map_or_else(|| error_box(REVIEWS_ERROR, "reviews"), reviews_list),
    );
    document(&format!("Bookinfo: {}", product.title), &body)
}

fn error_box(message: &str, service: &str) -> String {
    format!(
        "<p class=\"error\">{message}</p>\n<p>The {service} service did not answer in time. \
         Reload the page to try again.</p>\n"
    )
}

fn details_table(details: &Value) -> String {
    const FIELDS: [(&str, &str); 7] = [
        ("author", "Author"),
        ("year", "Published"),
        ("type", "Format"),
        ("pages", "Pages"),
        ("publisher", "Publisher"),
        ("language", "Language"),
        ("ISBN-13", "ISBN-13"),
    ];
    let rows: String = FIELDS
        .iter()
        .filter_map(|(key, label)| {
            let value = match &details[*key] {
                Value::Null => return None,
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Some(format!(
                "<tr><td>{label}</td><td>{}</td></tr>\n",
                escape(&value)
            ))
        })
        .collect();
    format!("<table>\n{rows}</table>\n")
}

fn reviews_list(reviews: &Value) -> String {
    let version = reviews["version"].as_str().unwrap_or("unknown");
    let items: String = reviews["reviews"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|r| {
            format!(
                "<blockquote><p>{}</p><footer>{} {}</footer></blockquote>\n",
                escape(r["text"].as_str().unwrap_or_default()),
                escape(r["reviewer"].as_str().unwrap_or("anonymous")),
                stars(&r["rating"]),
            )
        })
        .collect();
    format!(
        "{items}<p class=\"served-by\">Reviews served by reviews {}.</p>\n",
        escape(version)
    )
}

fn stars(rating: &Value) -> String {
    if rating.is_null() {
        return String::new();
    }
    if let Some(error) = rating["error"].as_str() {
        return format!("<span class=\"error\">{}</span>", escape(error));
    }
    let n = rating["stars"].as_u64().unwrap_or(0).min(5) as usize;
    let color = match rating["color"].as_str() {
        Some("red") => "red",
        _ => "black",
    };
    format!(
        "<span class=\"stars {color}\" title=\"{n} of 5 stars\">{}{}</span>",
        "\u{2605}".repeat(n),
        "\u{2606}".repeat(5 - n)
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn renders_stars_and_rating_errors() {
        let red = stars(&json!({"stars": 4, "color": "red"}));
        assert_eq!(
            red,
            "<span class=\"stars red\" title=\"4 of 5 stars\">\u{2605}\u{2605}\u{2605}\u{2605}\u{2606}</span>"
        );
        assert!(stars(&json!({"error": "down"})).contains("class=\"error\">down"));
        assert_eq!(stars(&Value::Null), "");
    }
}
