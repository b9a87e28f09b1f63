//! The shape of a document before it runs: aliases, depth, the depth of
//! its introspection, and how deep its selection sets nest. Introspection (`__schema`, `__type`) has bounds of its
//! own, so the standard queries of graphql-js, GraphiQL and Apollo's tools
//! (type references nine `ofType`s deep) pass while the depth limit of
//! everything else stays where it is; a chain of `ofType`, `fields` or
//! `interfaces` longer than any tool sends is still refused.

use std::collections::HashMap;

use async_graphql::{
    Pos, Positioned,
    parser::types::{ExecutableDocument, Selection, SelectionSet},
};

/// How deep selection sets may nest, counting each field's set, inline
/// fragment and fragment spread as one level below the operation's set
/// (async-graphql's `limit_recursive_depth`, which the schema is given too).
pub const MAX_RECURSION: usize = 32;

/// How deep an introspection subtree may go, counted from the operation's
/// root. The standard queries reach 15 (`__schema types fields args type`
/// and a type reference of nine `ofType`s down to its `name`).
pub const INTROSPECTION_MAX_DEPTH: usize = 20;

/// How many list fields an introspection subtree may nest. The standard
/// queries nest three (`types fields args`); each more multiplies the
/// answer by the size of the schema.
pub const INTROSPECTION_MAX_LISTS: usize = 3;

/// Introspection fields whose value is a list.
const INTROSPECTION_LISTS: &[&str] = &[
    "types",
    "directives",
    "fields",
    "args",
    "interfaces",
    "possibleTypes",
    "enumValues",
    "inputFields",
];

/// The roots of introspection subtrees.
fn starts_introspection(name: &str) -> bool {
    name == "__schema" || name == "__type"
}

/// What a document or selection set measures, fragments inlined.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shape {
    /// Depth of the fields outside introspection (an introspection root
    /// counts one).
    pub depth: usize,
    /// Depth of the deepest introspection field, from the operation's root.
    pub introspection_depth: usize,
    /// The most list fields nested in one introspection path.
    pub introspection_lists: usize,
}

impl Shape {
    fn max(self, other: Self) -> Self {
        Self {
            depth: self.depth.max(other.depth),
            introspection_depth: self.introspection_depth.max(other.introspection_depth),
            introspection_lists: self.introspection_lists.max(other.introspection_lists),
        }
    }
}

/// The deepest of the document's operations.
pub fn measure(doc: &ExecutableDocument) -> Shape {
    let mut walker = Walker {
        doc,
        memo: HashMap::new(),
        entered: Vec::new(),
    };
    doc.operations
        .iter()
        .map(|(_, op)| walker.set(&op.node.selection_set.node, false))
        .fold(Shape::default(), Shape::max)
}

/// Aliases in the document, fragments counted once each.
pub fn count_aliases(doc: &ExecutableDocument) -> usize {
    fn walk(set: &SelectionSet) -> usize {
        set.items
            .iter()
            .map(|item| match &item.node {
                Selection::Field(f) => {
                    usize::from(f.node.alias.is_some()) + walk(&f.node.selection_set.node)
                }
                Selection::InlineFragment(f) => walk(&f.node.selection_set.node),
                Selection::FragmentSpread(_) => 0,
            })
            .sum()
    }
    let operations: usize = doc
        .operations
        .iter()
        .map(|(_, op)| walk(&op.node.selection_set.node))
        .sum();
    let fragments: usize = doc
        .fragments
        .values()
        .map(|f| walk(&f.node.selection_set.node))
        .sum();
    operations + fragments
}

/// Walks selection sets with fragments inlined. Each fragment's shape is
/// computed once per context (inside introspection or not), so fragments
/// that spread each other many times cost linear time; a fragment that
/// spreads itself is cut short here (validation refuses it afterwards).
struct Walker<'a> {
    doc: &'a ExecutableDocument,
    memo: HashMap<(&'a str, bool), Shape>,
    entered: Vec<&'a str>,
}

impl<'a> Walker<'a> {
    fn set(&mut self, set: &'a SelectionSet, introspection: bool) -> Shape {
        let mut shape = Shape::default();
        for item in &set.items {
            let inner = match &item.node {
                Selection::Field(f) => {
                    let name = f.node.name.node.as_str();
                    let entering = !introspection && starts_introspection(name);
                    let inside = introspection || entering;
                    let child = self.set(&f.node.selection_set.node, inside);
                    if inside {
                        let lists =
                            usize::from(introspection && INTROSPECTION_LISTS.contains(&name));
                        Shape {
                            depth: if entering { 1 } else { 0 },
                            introspection_depth: 1 + child.introspection_depth,
                            introspection_lists: lists + child.introspection_lists,
                        }
                    } else {
                        Shape {
                            depth: 1 + child.depth,
                            introspection_depth: if child.introspection_depth > 0 {
                                1 + child.introspection_depth
                            } else {
                                0
                            },
                            introspection_lists: child.introspection_lists,
                        }
                    }
                }
                Selection::InlineFragment(f) => self.set(&f.node.selection_set.node, introspection),
                Selection::FragmentSpread(s) => {
                    self.fragment(s.node.fragment_name.node.as_str(), introspection)
                }
            };
            shape = shape.max(inner);
        }
        shape
    }

    fn fragment(&mut self, name: &'a str, introspection: bool) -> Shape {
        if let Some(shape) = self.memo.get(&(name, introspection)) {
            return *shape;
        }
        if self.entered.contains(&name) {
            return Shape::default();
        }
        let Some((key, fragment)) = self.doc.fragments.get_key_value(name) else {
            return Shape::default();
        };
        self.entered.push(key.as_str());
        let shape = self.set(&fragment.node.selection_set.node, introspection);
        self.entered.pop();
        self.memo.insert((key.as_str(), introspection), shape);
        shape
    }
}

/// Where the document's selection sets first nest more than `limit` deep,
/// in the order async-graphql's own recursion check walks them (operation
/// by operation, depth first), so a document refused here is refused at
/// the same place, before that check meets it. Each fragment is measured
/// once, so many spreads cost linear time; a fragment that reaches itself
/// nests without end.
pub fn nested_past(doc: &ExecutableDocument, limit: usize) -> Option<Pos> {
    let mut heights = Heights {
        doc,
        memo: HashMap::new(),
        entered: Vec::new(),
    };
    doc.operations
        .iter()
        .find_map(|(_, op)| heights.first_past(&op.node.selection_set, 0, limit))
}

/// How many levels of selection sets nest below a set, fragments inlined.
struct Heights<'a> {
    doc: &'a ExecutableDocument,
    memo: HashMap<&'a str, usize>,
    entered: Vec<&'a str>,
}

impl<'a> Heights<'a> {
    /// The set one level below `item`, and the fragment it is, if any.
    fn child(
        &self,
        item: &'a Selection,
    ) -> Option<(&'a Positioned<SelectionSet>, Option<&'a str>)> {
        match item {
            Selection::Field(f) if !f.node.selection_set.node.items.is_empty() => {
                Some((&f.node.selection_set, None))
            }
            Selection::Field(_) => None,
            Selection::InlineFragment(f) => Some((&f.node.selection_set, None)),
            Selection::FragmentSpread(s) => {
                let (name, fragment) = self
                    .doc
                    .fragments
                    .get_key_value(s.node.fragment_name.node.as_str())?;
                Some((&fragment.node.selection_set, Some(name.as_str())))
            }
        }
    }

    /// Levels below `set` (0 when nothing nests in it).
    fn below(&mut self, set: &'a SelectionSet) -> usize {
        let mut deepest = 0;
        for item in &set.items {
            if let Some((child, fragment)) = self.child(&item.node) {
                deepest = deepest.max(self.height(child, fragment).saturating_add(1));
            }
        }
        deepest
    }

    fn height(&mut self, set: &'a Positioned<SelectionSet>, fragment: Option<&'a str>) -> usize {
        let Some(name) = fragment else {
            return self.below(&set.node);
        };
        if let Some(height) = self.memo.get(name) {
            return *height;
        }
        if self.entered.contains(&name) {
            return usize::MAX;
        }
        self.entered.push(name);
        let height = self.below(&set.node);
        self.entered.pop();
        self.memo.insert(name, height);
        height
    }

    /// The first set deeper than `limit` within `set`, which is `depth`
    /// deep: only a child whose height passes the limit is entered.
    fn first_past(
        &mut self,
        set: &'a Positioned<SelectionSet>,
        depth: usize,
        limit: usize,
    ) -> Option<Pos> {
        if depth > limit {
            return Some(set.pos);
        }
        for item in &set.node.items {
            if let Some((child, fragment)) = self.child(&item.node)
                && self.height(child, fragment).saturating_add(depth + 1) > limit
            {
                return self.first_past(child, depth + 1, limit);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(query: &str) -> Shape {
        measure(&async_graphql::parser::parse_query(query).unwrap())
    }

    #[test]
    fn introspection_is_measured_apart() {
        let s = shape(
            "{ me { id } __schema { types { fields { args { type { ofType { name } } } } } } }",
        );
        assert_eq!(s.depth, 2);
        assert_eq!(s.introspection_depth, 7);
        assert_eq!(s.introspection_lists, 3);
    }

    #[test]
    fn fragments_are_inlined_once_per_context() {
        let s = shape(
            "{ ...Q } fragment Q on Query { __type(name: \"User\") { ...T } } \
             fragment T on __Type { fields { type { ...R } } interfaces { ...R } } \
             fragment R on __Type { ofType { name } }",
        );
        assert_eq!(s.depth, 1);
        assert_eq!(s.introspection_depth, 5);
        assert_eq!(s.introspection_lists, 1);
    }

    #[test]
    fn a_fragment_that_spreads_itself_ends() {
        let s = shape("{ me { ...A } } fragment A on User { id ...A }");
        assert_eq!(s.depth, 2);
    }

    #[test]
    fn many_spreads_cost_linear_time() {
        let mut doc = String::from("{ me { ...F0 } } fragment F40 on User { id } ");
        for i in 0..40 {
            doc.push_str(&format!(
                "fragment F{i} on User {{ ...F{n} ...F{n} }} ",
                n = i + 1
            ));
        }
        assert_eq!(shape(&doc).depth, 2);
    }

    fn nested_past_of(query: &str, limit: usize) -> Option<Pos> {
        nested_past(&async_graphql::parser::parse_query(query).unwrap(), limit)
    }

    #[test]
    fn every_kind_of_selection_set_nests_one_level() {
        // Sets at depths 1 (`me`), 2 (inline fragment), 3 (`F`), 4 (`wallets`).
        let doc = "{ me { ... on User { ...F } } } fragment F on User { wallets { id } }";
        assert_eq!(nested_past_of(doc, 4), None);
        let pos = nested_past_of(doc, 3).expect("deeper than 3");
        assert_eq!((pos.line, pos.column), (1, 62));
    }

    #[test]
    fn the_first_set_past_the_limit_is_found_depth_first() {
        let doc = "{ a { b } c { d { e } } f { g { h } } }";
        let pos = nested_past_of(doc, 1).expect("deeper than 1");
        assert_eq!((pos.line, pos.column), (1, 17));
    }

    #[test]
    fn a_fragment_that_reaches_itself_nests_without_end() {
        let doc = "{ me { ...A } } fragment A on User { wallets { ...B } } \
                   fragment B on Wallet { id ...A }";
        assert!(nested_past_of(doc, 1_000).is_some());
    }

    #[test]
    fn many_spreads_are_measured_in_linear_time() {
        let mut doc = String::from("{ me { ...F0 } } fragment F30 on User { id } ");
        for i in 0..30 {
            doc.push_str(&format!(
                "fragment F{i} on User {{ ...F{n} ...F{n} }} ",
                n = i + 1
            ));
        }
        // Sets at depths 1 (`me`) to 32 (`F30`).
        assert_eq!(nested_past_of(&doc, 32), None);
        assert!(nested_past_of(&doc, 31).is_some());
    }

    struct Root;

    #[async_graphql::Object]
    impl Root {
        async fn id(&self) -> i32 {
            0
        }
    }

    /// The place async-graphql's own check refuses a document at, when
    /// nothing refuses it first (the documents name fields this schema
    /// does not have: none runs).
    async fn refused_by_the_library_at(query: &str, limit: usize) -> Option<Pos> {
        use async_graphql::{EmptyMutation, EmptySubscription, Schema};
        let schema = Schema::build(Root, EmptyMutation, EmptySubscription)
            .limit_recursive_depth(limit)
            .finish();
        let response = schema.execute(query).await;
        response
            .errors
            .iter()
            .find(|e| e.message.starts_with("The recursion depth"))
            .map(|e| e.locations[0])
    }

    #[tokio::test]
    async fn the_library_refuses_the_same_documents_at_the_same_place() {
        let spreads = "{ me { ...A } } fragment A on User { wallets { ...B } } \
                       fragment B on Wallet { id ... on Wallet { balance } }";
        for doc in [
            "{ a { b } c { d { e } } f { g { h } } }",
            "{ me { ... on User { ...F } } } fragment F on User { wallets { id } }",
            "query A { a } query B { d { e { f { g } } } }",
            spreads,
            "{ me { ...A } } fragment A on User { wallets { ...B } } fragment B on Wallet { id ...A }",
        ] {
            for limit in 0..6 {
                assert_eq!(
                    nested_past_of(doc, limit),
                    refused_by_the_library_at(doc, limit).await,
                    "{doc} at {limit}"
                );
            }
        }
    }
}
