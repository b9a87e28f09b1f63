//! Which rate-limit class a request belongs to, from its operation's root
//! fields (before it runs, so a refused request does no work).

use std::collections::HashSet;

use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet};

use super::document_bounds::DocumentBounds;
use crate::cache::rate_limit::Class;

/// Mutations that move or reserve money.
const MONEY_MOVEMENT: &[&str] = &[
    "deposit",
    "transfer",
    "withdraw",
    "createWallet",
    "holdFunds",
    "releaseHold",
    "refundTransaction",
    "approveSupportAction",
    "requestPayment",
    "payPaymentRequest",
];

/// Mutations that take a password or create an account.
const AUTH: &[&str] = &["register", "login"];

/// The class of the request and its cost: the most sensitive class among
/// the root fields, counted once per root field of that class (aliases
/// cannot pack ten transfers into one request's budget). A document past
/// the bounds is not parsed, and one that does not parse is a read:
/// execution reports either.
pub fn classify(request: &mut async_graphql::Request, bounds: &DocumentBounds) -> (Class, u32) {
    let operation_name = request.operation_name.clone();
    if bounds.check(&request.query, &request.variables).is_err() {
        return (Class::Read, 1);
    }
    let Ok(document) = request.parsed_query() else {
        return (Class::Read, 1);
    };
    let Some((kind, names)) = root_fields(document, operation_name.as_deref()) else {
        return (Class::Read, 1);
    };
    if kind != OperationType::Mutation {
        return (Class::Read, 1);
    }
    let count = |list: &[&str]| names.iter().filter(|n| list.contains(&n.as_str())).count();
    let (money, auth) = (count(MONEY_MOVEMENT), count(AUTH));
    if money > 0 {
        (Class::MoneyMovement, money as u32)
    } else if auth > 0 {
        (Class::Auth, auth as u32)
    } else {
        (Class::Read, 1)
    }
}

/// The kind of the operation the request selects; `None` when the
/// document is past the bounds, does not parse, or selects no single
/// operation (execution reports each).
pub fn operation_type(
    request: &mut async_graphql::Request,
    bounds: &DocumentBounds,
) -> Option<OperationType> {
    let operation_name = request.operation_name.clone();
    bounds.check(&request.query, &request.variables).ok()?;
    let document = request.parsed_query().ok()?;
    root_fields(document, operation_name.as_deref()).map(|(kind, _)| kind)
}

/// The selected operation's kind and root field names (as the schema
/// names them, not their aliases), through fragments.
pub(crate) fn root_fields(
    doc: &ExecutableDocument,
    name: Option<&str>,
) -> Option<(OperationType, Vec<String>)> {
    let operation = match name {
        Some(name) => {
            doc.operations
                .iter()
                .find(|(n, _)| n.is_some_and(|n| n.as_str() == name))?
                .1
        }
        None => {
            let mut all = doc.operations.iter();
            let only = all.next()?.1;
            if all.next().is_some() {
                return None;
            }
            only
        }
    };
    let mut names = Vec::new();
    collect(
        doc,
        &operation.node.selection_set.node,
        &mut names,
        &mut HashSet::new(),
    );
    Some((operation.node.ty, names))
}

/// Root field names, through fragment spreads and inline fragments; each
/// named fragment is entered once, so a cycle cannot loop.
fn collect(
    doc: &ExecutableDocument,
    set: &SelectionSet,
    out: &mut Vec<String>,
    seen: &mut HashSet<String>,
) {
    for item in &set.items {
        match &item.node {
            Selection::Field(f) => out.push(f.node.name.node.to_string()),
            Selection::InlineFragment(f) => collect(doc, &f.node.selection_set.node, out, seen),
            Selection::FragmentSpread(s) => {
                let name = s.node.fragment_name.node.to_string();
                if seen.insert(name.clone())
                    && let Some(fragment) = doc.fragments.get(&s.node.fragment_name.node)
                {
                    collect(doc, &fragment.node.selection_set.node, out, seen);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(query: &str, op: Option<&str>) -> (Class, u32) {
        let mut req = async_graphql::Request::new(query);
        if let Some(op) = op {
            req = req.operation_name(op);
        }
        let bounds = DocumentBounds {
            max_nesting: 8,
            max_tokens: 100,
        };
        classify(&mut req, &bounds)
    }

    #[test]
    fn root_fields_decide_the_class() {
        assert_eq!(class("{ me { id } }", None), (Class::Read, 1));
        assert_eq!(
            class("mutation { login(input: {}) { token } }", None),
            (Class::Auth, 1)
        );
        assert_eq!(class("mutation { logout }", None), (Class::Read, 1));
        assert_eq!(
            class(
                "mutation { a: transfer(input: {}) { id } b: transfer(input: {}) { id } me: logout }",
                None
            ),
            (Class::MoneyMovement, 2)
        );
    }

    #[test]
    fn fragments_and_operation_names_are_followed() {
        let doc = "query Q { me { id } } mutation M { ...F } fragment F on Mutation { ... on Mutation { deposit(input: {}) { id } } }";
        assert_eq!(class(doc, Some("Q")), (Class::Read, 1));
        assert_eq!(class(doc, Some("M")), (Class::MoneyMovement, 1));
        assert_eq!(class("{ me { id ", None), (Class::Read, 1));
        let deep = format!(
            "mutation {{ deposit(input: {}) {{ id }} }}",
            "[".repeat(100)
        );
        assert_eq!(class(&deep, None), (Class::Read, 1));
    }
}
