//! A linear pre-scan of a document's text that bounds its bracket nesting
//! and its token count before any recursive code (the parser included)
//! sees it. Every recursive construct of GraphQL nests through a bracket:
//! selection sets and object values through `{`, list values and list
//! types through `[`, arguments and variable definitions through `(`.
//! Brackets inside strings, block strings and comments do not count.

use async_graphql::{ServerError, Value, Variables};

use super::errors::Code;

pub use crate::config::PARSER_MAX_NESTING;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentBounds {
    /// Deepest bracket nesting accepted (the configuration holds it to
    /// at most `PARSER_MAX_NESTING`).
    pub max_nesting: usize,
    /// Most lexical tokens accepted (commas and whitespace are not tokens).
    pub max_tokens: usize,
}

/// Whether a document keeps within the bounds; the scan stops at the
/// first bound passed.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Within,
    TooDeep,
    TooManyTokens,
}

impl From<&crate::config::Config> for DocumentBounds {
    fn from(config: &crate::config::Config) -> Self {
        Self {
            max_nesting: config.graphql.max_nesting,
            max_tokens: config.graphql.max_tokens,
        }
    }
}

impl DocumentBounds {
    /// `QUERY_TOO_COMPLEX` (without a location) for a document past a
    /// bound, or for variables whose lists and objects nest deeper than a
    /// document may (the JSON parser has bounded them already, far higher).
    pub fn check(&self, document: &str, variables: &Variables) -> Result<(), ServerError> {
        let deepest = variables.values().map(nesting).max().unwrap_or(0);
        let verdict = match self.scan(document.as_bytes()) {
            Verdict::Within if deepest > self.max_nesting => Verdict::TooDeep,
            verdict => verdict,
        };
        let message = match verdict {
            Verdict::Within => return Ok(()),
            Verdict::TooDeep => format!(
                "Query is nested too deep: brackets nest more than {} levels",
                self.max_nesting
            ),
            Verdict::TooManyTokens => {
                format!("Query is too complex: more than {} tokens", self.max_tokens)
            }
        };
        let mut error = ServerError::new(message, None);
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", Code::QueryTooComplex.as_str());
        Err(error)
    }

    fn scan(&self, text: &[u8]) -> Verdict {
        let mut depth = 0usize;
        let mut tokens = 0usize;
        let mut i = 0;
        while i < text.len() {
            let b = text[i];
            i += 1;
            match b {
                b' ' | b'\t' | b'\n' | b'\r' | b',' => continue,
                b'#' => {
                    while i < text.len() && text[i] != b'\n' && text[i] != b'\r' {
                        i += 1;
                    }
                    continue;
                }
                b'"' if text[i..].starts_with(b"\"\"") => i = skip_block_string(text, i + 2),
                b'"' => i = skip_string(text, i),
                b'{' | b'[' | b'(' => {
                    depth += 1;
                    if depth > self.max_nesting {
                        return Verdict::TooDeep;
                    }
                }
                // A closer that opens nothing is a syntax error the parser
                // reports; it must not buy depth for what follows.
                b'}' | b']' | b')' => depth = depth.saturating_sub(1),
                b if is_word(b) => {
                    while i < text.len() && is_word(text[i]) {
                        i += 1;
                    }
                }
                _ => {}
            }
            tokens += 1;
            if tokens > self.max_tokens {
                return Verdict::TooManyTokens;
            }
        }
        Verdict::Within
    }
}

/// How deep lists and objects nest in a value (a scalar: 0).
fn nesting(value: &Value) -> usize {
    match value {
        Value::List(items) => 1 + items.iter().map(nesting).max().unwrap_or(0),
        Value::Object(fields) => 1 + fields.values().map(nesting).max().unwrap_or(0),
        _ => 0,
    }
}

/// Names, numbers (with `.`, `e`, signs) and `...` are one token each.
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'+') || b >= 0x80
}

/// Past the closing quote of a string whose opening quote ends at `i`.
/// A string does not span lines; the parser stops at an unclosed one, so
/// nothing after it counts.
fn skip_string(text: &[u8], mut i: usize) -> usize {
    while i < text.len() {
        match text[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            b'\n' | b'\r' => return text.len(),
            _ => i += 1,
        }
    }
    text.len()
}

/// Past the closing `"""` of a block string whose opening ends at `i`
/// (`\"""` inside it is an escaped quote triple).
fn skip_block_string(text: &[u8], mut i: usize) -> usize {
    while i < text.len() {
        if text[i..].starts_with(b"\\\"\"\"") {
            i += 4;
        } else if text[i..].starts_with(b"\"\"\"") {
            return i + 3;
        } else {
            i += 1;
        }
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: DocumentBounds = DocumentBounds {
        max_nesting: 4,
        max_tokens: 16,
    };

    fn verdict(text: &str) -> Verdict {
        BOUNDS.scan(text.as_bytes())
    }

    #[test]
    fn brackets_of_every_kind_nest() {
        assert_eq!(verdict("{ a(b: [1]) }"), Verdict::Within);
        assert_eq!(verdict("{ a(b: [[1]]) }"), Verdict::Within);
        assert_eq!(verdict("{ a(b: [[[1]]]) }"), Verdict::TooDeep);
        assert_eq!(verdict("{ a { b { c { d } } } }"), Verdict::Within);
        assert_eq!(verdict("{ a { b { c { d { e } } } } }"), Verdict::TooDeep);
        assert_eq!(verdict("query($v: [[[[Int]]]]) { a }"), Verdict::TooDeep);
    }

    #[test]
    fn brackets_in_strings_and_comments_do_not_count() {
        assert_eq!(verdict("{ a(b: \"[[[[[\\\"[[[\") }"), Verdict::Within);
        assert_eq!(
            verdict("{ a(b: \"\"\"[[[[[\\\"\"\"[[[[\"\"\") }"),
            Verdict::Within
        );
        assert_eq!(verdict("{ a # [[[[[[\n }"), Verdict::Within);
        assert_eq!(verdict("{ a(b: \"\") { c { d } } }"), Verdict::Within);
    }

    #[test]
    fn stray_closers_do_not_hide_depth() {
        assert_eq!(verdict("]]]]] [[[[["), Verdict::TooDeep);
    }

    #[test]
    fn variables_nest_too() {
        let deep = |depth: usize| {
            let value = (0..depth).fold(Value::from(1), |v, _| Value::List(vec![v]));
            Variables::from_value(Value::Object(
                [(async_graphql::Name::new("v"), value)]
                    .into_iter()
                    .collect(),
            ))
        };
        assert!(BOUNDS.check("{ a }", &deep(4)).is_ok());
        assert!(BOUNDS.check("{ a }", &deep(5)).is_err());
    }

    #[test]
    fn tokens_are_counted() {
        assert_eq!(verdict("{ a b c d e f g h i j k l m n }"), Verdict::Within);
        assert_eq!(
            verdict("{ a b c d e f g h i j k l m n o }"),
            Verdict::TooManyTokens
        );
        assert_eq!(verdict("{ a, b, c, d, 1.5e-3, ...F }"), Verdict::Within);
    }

    #[test]
    fn the_parser_takes_every_document_the_bounds_let_through() {
        let mut config = crate::config::Config::default();
        config.graphql.max_nesting = PARSER_MAX_NESTING; // the most allowed
        let bounds = DocumentBounds::from(&config);
        let nested =
            |depth: usize| format!("{}a{}", "{ a ".repeat(depth - 1) + "{ ", " }".repeat(depth));
        let deepest = nested(PARSER_MAX_NESTING);
        assert!(bounds.check(&deepest, &Variables::default()).is_ok());
        assert!(async_graphql::parser::parse_query(&deepest).is_ok());
        let deeper = nested(PARSER_MAX_NESTING + 1);
        assert!(matches!(
            async_graphql::parser::parse_query(&deeper),
            Err(async_graphql::parser::Error::RecursionLimitExceeded)
        ));
        assert!(bounds.check(&deeper, &Variables::default()).is_err());
    }
}
