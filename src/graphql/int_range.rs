//! GraphQL's `Int` is 32 bits, but async-graphql's validation takes any
//! 64-bit integer for it and refuses a larger one only while reading the
//! argument, in a message that names no field. This finds such a value
//! before validation, with the path of its argument: every integer input
//! of this schema is an `Int` (it has no `Float` input), so any integer
//! argument past 32 bits is one, in the document or in the variables.

use async_graphql::{
    Pos, Variables,
    parser::types::{ExecutableDocument, Field, Selection, SelectionSet},
};
use async_graphql_value::{ConstValue, Value};

/// The first integer past 32 bits among the document's arguments: its
/// path (`input.card.expiryMonth`, `first`) and the argument's position.
pub fn first_oversized_int(
    doc: &ExecutableDocument,
    variables: &Variables,
) -> Option<(String, Pos)> {
    let sets = doc
        .operations
        .iter()
        .map(|(_, op)| &op.node.selection_set.node)
        .chain(doc.fragments.values().map(|f| &f.node.selection_set.node));
    for set in sets {
        if let Some(found) = in_set(set, variables) {
            return Some(found);
        }
    }
    None
}

fn in_set(set: &SelectionSet, variables: &Variables) -> Option<(String, Pos)> {
    set.items.iter().find_map(|item| match &item.node {
        Selection::Field(f) => in_field(&f.node, variables),
        Selection::InlineFragment(f) => in_set(&f.node.selection_set.node, variables),
        Selection::FragmentSpread(_) => None,
    })
}

fn in_field(field: &Field, variables: &Variables) -> Option<(String, Pos)> {
    field
        .arguments
        .iter()
        .find_map(|(name, value)| {
            let mut path = vec![name.node.to_string()];
            in_value(&value.node, variables, &mut path).then(|| (path.join("."), value.pos))
        })
        .or_else(|| in_set(&field.selection_set.node, variables))
}

/// Whether `value` holds an oversized integer; `path` then leads to it.
fn in_value(value: &Value, variables: &Variables, path: &mut Vec<String>) -> bool {
    match value {
        Value::Variable(name) => variables.get(name).is_some_and(|v| in_const(v, path)),
        Value::Number(n) => past_32_bits(n),
        Value::List(items) => items.iter().enumerate().any(|(i, item)| {
            path.push(i.to_string());
            in_value(item, variables, path) || {
                path.pop();
                false
            }
        }),
        Value::Object(fields) => fields.iter().any(|(key, item)| {
            path.push(key.to_string());
            in_value(item, variables, path) || {
                path.pop();
                false
            }
        }),
        _ => false,
    }
}

fn in_const(value: &ConstValue, path: &mut Vec<String>) -> bool {
    match value {
        ConstValue::Number(n) => past_32_bits(n),
        ConstValue::List(items) => items.iter().enumerate().any(|(i, item)| {
            path.push(i.to_string());
            in_const(item, path) || {
                path.pop();
                false
            }
        }),
        ConstValue::Object(fields) => fields.iter().any(|(key, item)| {
            path.push(key.to_string());
            in_const(item, path) || {
                path.pop();
                false
            }
        }),
        _ => false,
    }
}

/// An integer outside `i32`; a fraction is another kind of error.
fn past_32_bits(n: &async_graphql::Number) -> bool {
    match (n.as_i64(), n.as_u64()) {
        (Some(i), _) => i32::try_from(i).is_err(),
        (None, Some(_)) => true,
        (None, None) => false,
    }
}
