//! The GraphQL schema: types, resolvers, loaders and the error mapping.

pub mod caller;
pub mod cost;
pub mod document_bounds;
pub mod errors;
mod guard_rails;
pub mod ids;
mod int_range;
pub mod loaders;
mod mutations;
pub mod observed;
pub mod operation_class;
pub mod persisted_query;
mod query;
mod read_your_writes;
pub mod scalars;
mod shape;
pub mod subscription;
pub mod support;
pub mod trusted_documents;
pub mod types;

use async_graphql::{Schema, SchemaBuilder};

pub use document_bounds::DocumentBounds;
pub use guard_rails::GuardRails;
pub use mutations::Mutation;
pub use query::Query;
pub use subscription::Subscription;

pub type ApiSchema = Schema<Query, Mutation, Subscription>;

/// Limits a client can rely on (api.md): depth, complexity, aliases.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_aliases: usize,
    /// Bounds on the document's text, checked before it is parsed.
    pub document: DocumentBounds,
    pub introspection: bool,
}

impl Limits {
    /// No limit at all, for what must parse and validate whatever its size:
    /// the SDL, the cost of an operation past the limits.
    pub const NONE: Self = Self {
        max_depth: usize::MAX,
        max_complexity: usize::MAX,
        max_aliases: usize::MAX,
        document: DocumentBounds {
            max_nesting: usize::MAX,
            max_tokens: usize::MAX,
        },
        introspection: true,
    };
}

impl From<&crate::config::Config> for Limits {
    fn from(config: &crate::config::Config) -> Self {
        Self {
            max_depth: config.graphql.max_depth,
            max_complexity: config.graphql.max_complexity,
            max_aliases: config.graphql.max_aliases,
            document: DocumentBounds::from(config),
            introspection: config.graphql.introspection,
        }
    }
}

/// Builds the schema. `data` is shared by every request (the stores and
/// services); per-request data (the caller, loaders) is added per request.
/// With `trusted` documents, callers run only those (as the manifest says).
pub fn schema(
    limits: Limits,
    data: Option<crate::context::ApiContext>,
    trusted: Option<std::sync::Arc<trusted_documents::TrustedDocuments>>,
) -> ApiSchema {
    let mut builder = builder(limits);
    if let Some(trusted) = trusted {
        builder = builder.extension(trusted_documents::Guard(trusted));
    }
    if let Some(data) = data {
        // Without a replica every read is on the primary: no caller needs
        // marking, and no request pays for the extension.
        if data.reads.has_replica() {
            builder = builder.extension(read_your_writes::MarkWriters);
        }
        builder = builder.data(data);
    }
    builder.finish()
}

/// The schema as every request meets it: its limits and guard rails.
fn builder(limits: Limits) -> SchemaBuilder<Query, Mutation, Subscription> {
    let mut builder = Schema::build(Query::default(), Mutation::default(), Subscription)
        .register_output_type::<types::Node>()
        .limit_recursive_depth(shape::MAX_RECURSION)
        .extension(GuardRails {
            max_aliases: limits.max_aliases,
            max_depth: limits.max_depth,
            max_complexity: limits.max_complexity,
            document: limits.document,
        });
    if !limits.introspection {
        builder = builder.disable_introspection();
    }
    builder
}

/// The SDL exactly as `print-schema` writes it and `/schema.graphql` serves it.
pub fn sdl() -> String {
    schema(Limits::NONE, None, None).sdl()
}
